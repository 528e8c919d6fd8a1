"""The asynchronous trial's SQL store on SQLite and PostgreSQL: what it writes reads back as the pure model says
(`hearing.async_trial.applied`), each change's audit entry is in the chain, and racing decisions on one hearing are
taken one after the other (two submissions for one question: exactly one is sealed)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from docket.async_trial import Change, ConsentMethod, StageKind, TrialSnapshot, Visibility
from docket.async_trial_sql import SqlAsyncTrialStore
from docket.court import NewCase, NewHearing, NewParticipant, NewPerson, Party, PartySide
from docket.court_sql import SqlCourtRecords
from hearing import async_trial as core
from hearing.async_trial import Refused

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


async def hearing_with_parties(court: SqlCourtRecords) -> tuple[str, dict[str, str]]:
    people = {label: await court.create_person(NewPerson(label)) for label in ("judge", "plaintiff", "defendant")}
    case = await court.create_case(NewCase("(2026)存1号", "contract dispute", [
        Party(people["plaintiff"].id, PartySide.PLAINTIFF), Party(people["defendant"].id, PartySide.DEFENDANT)]))
    hearing = await court.create_hearing(NewHearing(case.id, "async_trial", T0, T0 + timedelta(hours=1),  # type: ignore[arg-type]
                                                    panel=[people["judge"].id], state="in_session"))
    roles = {"judge": "presiding_judge", "plaintiff": "plaintiff", "defendant": "defendant"}
    ids = {label: (await court.add_participant(NewParticipant(hearing.id, people[label].id, roles[label]))).id
           for label in roles}
    return hearing.id, ids


def same(a: TrialSnapshot, b: TrialSnapshot) -> None:
    """Equal but for representation the database normalises (tuples vs lists are already tuples)."""
    assert replace(a, parties=dict(a.parties)) == replace(b, parties=dict(b.parties))


async def test_the_store_reads_back_what_the_pure_model_says(court: SqlCourtRecords) -> None:
    store = SqlAsyncTrialStore(court.engine, court.url)
    hid, ids = await hearing_with_parties(court)
    p, d, j = ids["plaintiff"], ids["defendant"], ids["judge"]
    model = await store.snapshot(hid)
    steps = [
        lambda t: core.decide_consent(t, p, given=True, method=ConsentMethod.ONLINE, note="", recorded_by=p,
                                      recorder_role="plaintiff", at=T0),
        lambda t: core.decide_consent(t, d, given=True, method=ConsentMethod.ONLINE, note="", recorded_by=d,
                                      recorder_role="defendant", at=T0),
        lambda t: core.decide_open_stage(t, StageKind.CLAIMS_DEFENCE, Visibility.AFTER_DEADLINE, 3, by=j,
                                         role="presiding_judge", at=T0, due_at=T0 + timedelta(days=3),
                                         stage_id="s1"),
        lambda t: core.decide_question(t, "s1", None, "请陈述", None, by=j, role="presiding_judge", at=T0,
                                       question_id="q1"),
        lambda t: core.decide_answer(t, "q1", p, "答", None, (), at=T0 + timedelta(hours=1), answer_id="a1"),
        lambda t: core.decide_extension(t, "s1", [d], T0 + timedelta(days=5), "网络中断", by=j,
                                        role="presiding_judge", at=T0, ids=["e1"]),
        lambda t: core.decide_answer(t, "q1", d, "辩", None, (), at=T0 + timedelta(days=4), answer_id="a2"),
        lambda t: core.decide_close_stage(t, "s1", by=j, role="presiding_judge", at=T0 + timedelta(days=4)),
    ]
    for step in steps:
        expected = step(model)
        assert isinstance(expected, Change), expected
        outcome = await store.apply(hid, step)
        assert not isinstance(outcome, Refused), outcome
        change, entry = outcome  # type: ignore[misc]
        assert entry.action == change.audit.action and entry.details == dict(change.audit.details)
        model = core.applied(model, expected)
        same(await store.snapshot(hid), model)
    assert core.verify_chain((await store.snapshot(hid)).answers) is None
    assert await court.audit.verify() is None


async def test_two_racing_answers_to_one_question_seal_one(court: SqlCourtRecords) -> None:
    store = SqlAsyncTrialStore(court.engine, court.url)
    hid, ids = await hearing_with_parties(court)
    p, d, j = ids["plaintiff"], ids["defendant"], ids["judge"]
    for pid, role in ((p, "plaintiff"), (d, "defendant")):
        await store.apply(hid, lambda t, pid=pid, role=role: core.decide_consent(
            t, pid, given=True, method=ConsentMethod.ONLINE, note="", recorded_by=pid, recorder_role=role, at=T0))
    now = datetime.now(UTC)
    await store.apply(hid, lambda t: core.decide_open_stage(t, StageKind.DEBATE, Visibility.AT_ONCE, 2, by=j,
                                                            role="presiding_judge", at=now,
                                                            due_at=now + timedelta(days=2), stage_id="s1"))
    await store.apply(hid, lambda t: core.decide_question(t, "s1", None, "辩论意见", None, by=j,
                                                          role="presiding_judge", at=now, question_id="q1"))
    results = await asyncio.gather(*(store.apply(hid, lambda t, n=n: core.decide_answer(
        t, "q1", p, f"第{n}次", None, (), at=now, answer_id=f"a{n}")) for n in range(4)))
    sealed = [r for r in results if not isinstance(r, Refused)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(sealed) == 1 and {r.code for r in refused} == {core.Code.ALREADY_ANSWERED}
    assert len((await store.snapshot(hid)).answers) == 1
    # and a withdrawal racing the first stage is decided on fresh state too: here the stage has opened
    late = await store.apply(hid, lambda t: core.decide_consent(t, d, given=False, method=ConsentMethod.ONLINE,
                                                                note="", recorded_by=d, recorder_role="defendant",
                                                                at=now))
    assert isinstance(late, Refused) and late.code is core.Code.CONSENT_LOCKED
