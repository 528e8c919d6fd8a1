"""The inbox's pure core (hearing/async_trial_inbox.py): what waits for whom, by when, overdue and reminder flags,
extensions — checked against the trial's own rules over generated trials (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hearing import async_trial as core
from hearing.async_trial_inbox import waiting
from tests.test_async_trial_core import T0, answer, ask, consented, ok, open_stage

ADDRESSEES = ("p1", "d1")


def a_trial(asks: list[str | None], answers: list[tuple[int, str]], extend: bool):  # type: ignore[no-untyped-def]
    t = consented()
    t = core.applied(t, ok(open_stage(t)))
    for to in asks:
        t = core.applied(t, ok(ask(t, [to] if to else None)))
    stage = core.open_stage(t)
    assert stage is not None
    if extend:
        t = core.applied(t, ok(core.decide_extension(t, stage.id, ["d1"], stage.due_at + timedelta(days=2), "断网",
                                                     by="j", role="presiding_judge", at=T0, ids=["e1"])))
    for n, pid in answers:
        if n < len(t.questions) and pid in t.questions[n].addressees \
                and core.answered(t, t.questions[n].id, pid) is None:
            t = core.applied(t, ok(answer(t, t.questions[n].id, pid, T0 + timedelta(hours=1))))
    return t


@settings(max_examples=150, deadline=None)
@given(asks=st.lists(st.sampled_from([None, *ADDRESSEES]), min_size=1, max_size=4),
       answers=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(ADDRESSEES)), max_size=6),
       extend=st.booleans(), hours=st.integers(0, 24 * 8))
def test_each_addressee_sees_exactly_what_they_have_not_answered(asks: list[str | None],
                                                                 answers: list[tuple[int, str]], extend: bool,
                                                                 hours: int) -> None:
    t = a_trial(asks, answers, extend)
    now = T0 + timedelta(hours=hours)
    everyone = waiting(t, now)
    assert [(w.question.id, w.participant_id) for w in sorted(everyone, key=lambda w: (w.question.number,
                                                                                       w.participant_id))] == \
        sorted(((p.question.id, p.participant_id) for p in core.pending(t)),
               key=lambda k: ([q.id for q in t.questions].index(k[0]), k[1]))
    assert [w.due_at for w in everyone] == sorted(w.due_at for w in everyone)  # soonest first
    for pid in ADDRESSEES:
        mine = waiting(t, now, participant_id=pid)
        assert mine == [w for w in everyone if w.participant_id == pid]
        for w in mine:
            assert core.answered(t, w.question.id, pid) is None and pid in w.question.addressees
            assert w.due_at == core.due_for(t, w.stage, pid)
            assert w.overdue == (now >= w.due_at)
            assert w.due_soon == (w.due_at - core.REMINDER_LEAD <= now < w.due_at)
            assert not (w.overdue and w.due_soon)
            assert (w.extension is not None) == (extend and pid == "d1")
            if w.extension is not None:
                assert w.extension.due_at == w.due_at and w.extension.reason == "断网"
    assert {(w.question.id, w.participant_id) for w in everyone if w.overdue} == \
        {(p.question.id, p.participant_id) for p in core.overdue(t, now)}
    assert {(w.question.id, w.participant_id) for w in everyone if w.due_soon} == \
        {(p.question.id, p.participant_id) for p in core.reminders(t, now)}


def test_a_closed_stage_or_a_trial_turned_live_waits_for_nobody() -> None:
    t = a_trial([None], [], False)
    assert len(waiting(t, T0)) == 2
    assert waiting(replace(t, kind="trial"), T0) == []
    stage = t.stages[0]
    closed = core.applied(t, ok(core.decide_close_stage(t, stage.id, by="j", role="presiding_judge",
                                                        at=stage.due_at + timedelta(minutes=1))))
    assert waiting(closed, stage.due_at + timedelta(minutes=2)) == []
