"""The asynchronous trial's pure rules: consent, stages, questions, deadlines, sealed answers, visibility."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from docket.async_trial import Change, ClipRef, ConsentMethod, StageKind, TrialSnapshot, Visibility
from hearing import async_trial as core
from hearing.async_trial import Code, Refused

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
PARTIES = {"p1": "plaintiff", "d1": "defendant", "c1": "counsel", "j": "presiding_judge", "k": "clerk"}
_ids = (f"id{n}" for n in itertools.count())


def trial(state: str = "scheduled", **kw: object) -> TrialSnapshot:
    return TrialSnapshot("h1", "async_trial", state, PARTIES, **kw)  # type: ignore[arg-type]


def ok(result: Change | Refused) -> Change:
    assert isinstance(result, Change), result
    return result


def consent(t: TrialSnapshot, pid: str, given: bool = True, at: datetime = T0) -> Change | Refused:
    return core.decide_consent(t, pid, given=given, method=ConsentMethod.ONLINE, note="", recorded_by=pid,
                               recorder_role=PARTIES[pid], at=at)


def consented(state: str = "in_session") -> TrialSnapshot:
    t = trial("scheduled")
    for pid in ("p1", "d1"):
        t = core.applied(t, ok(consent(t, pid)))
    return replace(t, state=state)


def open_stage(t: TrialSnapshot, kind: StageKind = StageKind.CLAIMS_DEFENCE,
               visibility: Visibility = Visibility.AT_ONCE, due: timedelta = timedelta(days=3)) -> Change | Refused:
    return core.decide_open_stage(t, kind, visibility, 3, by="j", role="presiding_judge", at=T0, due_at=T0 + due,
                                  stage_id=next(_ids))


def ask(t: TrialSnapshot, to: list[str] | None = None, text: str = "请陈述诉讼请求") -> Change | Refused:
    stage = core.open_stage(t)
    assert stage is not None
    return core.decide_question(t, stage.id, to, text, None, by="j", role="presiding_judge", at=T0,
                                question_id=next(_ids))


def answer(t: TrialSnapshot, qid: str, pid: str, at: datetime, text: str = "答辩意见",
           clip: ClipRef | None = None) -> Change | Refused:
    return core.decide_answer(t, qid, pid, text, clip, (), at=at, answer_id=next(_ids))


# ---- consent ----------------------------------------------------------------------------------------------


def test_scheduling_names_who_has_not_consented() -> None:
    t = trial()
    refusal = core.schedule_refusal(t)
    assert isinstance(refusal, Refused) and refusal.code is Code.CONSENT_MISSING
    assert refusal.params["missing"] == ["d1", "p1"]  # counsel's and staff's consent is not needed
    t = core.applied(t, ok(consent(t, "p1")))
    refusal = core.schedule_refusal(t)
    assert refusal is not None and refusal.params["missing"] == ["d1"]
    t = core.applied(t, ok(consent(t, "d1")))
    assert core.schedule_refusal(t) is None
    assert core.schedule_refusal(replace(trial(), kind="trial")) is None  # a live trial needs no consent
    no_parties = replace(trial(), parties={"j": "presiding_judge"})
    refusal = core.schedule_refusal(no_parties)
    assert refusal is not None and refusal.code is Code.CONSENT_MISSING


def test_consent_is_recorded_how_and_when_and_by_whom() -> None:
    t = trial()
    assert ok(consent(t, "p1")).consent == core.Consent("h1", "p1", True, ConsentMethod.ONLINE, "", "p1", T0)
    refusal = consent(t, "c1")
    assert isinstance(refusal, Refused) and refusal.code is Code.NOT_A_PARTY
    by_clerk = core.decide_consent(t, "p1", given=True, method=ConsentMethod.ONLINE, note="", recorded_by="k",
                                   recorder_role="clerk", at=T0)
    assert isinstance(by_clerk, Refused) and by_clerk.code is Code.NOT_PERMITTED  # online = the party's own link
    no_note = core.decide_consent(t, "p1", given=True, method=ConsentMethod.WRITTEN, note=" ", recorded_by="k",
                                  recorder_role="clerk", at=T0)
    assert isinstance(no_note, Refused) and no_note.code is Code.NOTE_REQUIRED
    written = ok(core.decide_consent(t, "p1", given=True, method=ConsentMethod.WRITTEN, note="同意书 第3卷第12页",
                                     recorded_by="k", recorder_role="clerk", at=T0))
    assert written.consent is not None and written.consent.recorded_by == "k"
    assert written.audit.action == "async_trial.consent" and written.audit.details["method"] == "written"
    by_party_for_other = core.decide_consent(t, "p1", given=True, method=ConsentMethod.WRITTEN, note="x",
                                             recorded_by="d1", recorder_role="defendant", at=T0)
    assert isinstance(by_party_for_other, Refused) and by_party_for_other.code is Code.NOT_PERMITTED
    t = core.applied(t, written)
    again = consent(t, "p1")
    assert isinstance(again, Refused) and again.code is Code.UNCHANGED


def test_withdrawal_turns_it_back_into_a_live_trial_until_the_first_stage_opens() -> None:
    t = consented("lobby_open")
    withdrawn = ok(consent(t, "d1", given=False))
    assert withdrawn.revert_to_live and withdrawn.audit.action == "async_trial.consent_withdrawn"
    live = core.applied(t, withdrawn)
    assert live.kind == "trial"
    for refusal in (consent(live, "d1"), open_stage(replace(live, state="in_session"))):
        assert isinstance(refusal, Refused) and refusal.code is Code.NOT_ASYNC_TRIAL
    t = core.applied(consented(), ok(open_stage(consented())))
    late = consent(t, "d1", given=False)
    assert isinstance(late, Refused) and late.code is Code.CONSENT_LOCKED


# ---- stages -----------------------------------------------------------------------------------------------


def test_stages_open_in_order_one_at_a_time_in_session_by_the_presiding_judge() -> None:
    t = consented()
    wrong = core.decide_open_stage(t, StageKind.CLAIMS_DEFENCE, Visibility.AT_ONCE, 3, by="k", role="clerk", at=T0,
                                   due_at=T0, stage_id="x")
    assert isinstance(wrong, Refused) and wrong.code is Code.NOT_PERMITTED
    lobby = open_stage(replace(t, state="lobby_open"))
    assert isinstance(lobby, Refused) and lobby.code is Code.NOT_PERMITTED
    bad = core.decide_open_stage(t, StageKind.DEBATE, Visibility.AT_ONCE, 0, by="j", role="presiding_judge", at=T0,
                                 due_at=T0, stage_id="x")
    assert isinstance(bad, Refused) and bad.code is Code.BAD_WORKDAYS
    t = core.applied(t, ok(open_stage(t, StageKind.EVIDENCE)))
    busy = open_stage(t, StageKind.DEBATE)
    assert isinstance(busy, Refused) and busy.code is Code.STAGE_OPEN
    stage = core.open_stage(t)
    assert stage is not None
    t = core.applied(t, ok(core.decide_close_stage(t, stage.id, by="j", role="presiding_judge", at=T0)))
    back = open_stage(t, StageKind.CLAIMS_DEFENCE)
    assert isinstance(back, Refused) and back.code is Code.STAGE_ORDER
    assert ok(open_stage(t, StageKind.FINAL_STATEMENT)).stage is not None  # skipping ahead is allowed


def test_questions_go_to_one_party_or_all_parties() -> None:
    t = consented()
    t = core.applied(t, ok(open_stage(t)))
    to_all = ok(ask(t))
    assert to_all.question is not None and to_all.question.addressees == ("d1", "p1")
    to_counsel = ok(ask(t, ["c1"]))
    assert to_counsel.question is not None and to_counsel.question.addressees == ("c1",)
    for bad in (["j"], ["nobody"], []):
        refusal = ask(t, bad)
        assert isinstance(refusal, Refused) and refusal.code is Code.BAD_ADDRESSEE
    empty = ask(t, None, "  ")
    assert isinstance(empty, Refused) and empty.code is Code.EMPTY


# ---- answers, deadlines, extensions -----------------------------------------------------------------------


def staged(visibility: Visibility = Visibility.AT_ONCE) -> tuple[TrialSnapshot, str]:
    t = consented()
    t = core.applied(t, ok(open_stage(t, visibility=visibility)))
    change = ok(ask(t))
    assert change.question is not None
    return core.applied(t, change), change.question.id


def test_an_answer_is_sealed_once_and_refused_after_the_deadline_unless_extended() -> None:
    t, qid = staged()
    due = T0 + timedelta(days=3)
    late = answer(t, qid, "p1", due)
    assert isinstance(late, Refused) and late.code is Code.PAST_DEADLINE and late.params["due_at"] == due.isoformat()
    stranger = answer(t, qid, "c1", T0)
    assert isinstance(stranger, Refused) and stranger.code is Code.NOT_ADDRESSED
    first = ok(answer(t, qid, "p1", due - timedelta(seconds=1)))
    t = core.applied(t, first)
    again = answer(t, qid, "p1", T0)
    assert isinstance(again, Refused) and again.code is Code.ALREADY_ANSWERED
    stage = core.open_stage(t)
    assert stage is not None
    no_reason = core.decide_extension(t, stage.id, ["d1"], due + timedelta(days=2), " ", by="j",
                                      role="presiding_judge", at=due, ids=["e"])
    assert isinstance(no_reason, Refused) and no_reason.code is Code.REASON_REQUIRED
    shorter = core.decide_extension(t, stage.id, ["d1"], due, "网络中断", by="j", role="presiding_judge", at=due,
                                    ids=["e"])
    assert isinstance(shorter, Refused) and shorter.code is Code.NOT_LATER
    assert [p.participant_id for p in core.overdue(t, due)] == ["d1"]
    t = core.applied(t, ok(core.decide_extension(t, stage.id, ["d1"], due + timedelta(days=2), "网络中断", by="j",
                                                 role="presiding_judge", at=due, ids=["e"])))
    assert core.overdue(t, due) == [] and core.due_for(t, stage, "d1") == due + timedelta(days=2)
    t = core.applied(t, ok(answer(t, qid, "d1", due + timedelta(days=1))))
    assert core.verify_chain(t.answers) is None


def test_a_stage_closes_when_all_answered_or_all_deadlines_passed() -> None:
    t, qid = staged()
    stage = core.open_stage(t)
    assert stage is not None
    early = core.decide_close_stage(t, stage.id, by="j", role="presiding_judge", at=T0)
    assert isinstance(early, Refused) and early.code is Code.STAGE_PENDING and early.params["pending"] == ["d1", "p1"]
    assert ok(core.decide_close_stage(t, stage.id, by="j", role="presiding_judge", at=stage.due_at)).close_stage
    for pid in ("p1", "d1"):
        t = core.applied(t, ok(answer(t, qid, pid, T0)))
    assert ok(core.decide_close_stage(t, stage.id, by="j", role="presiding_judge", at=T0)).close_stage


def test_reminders_a_day_before_and_overdue_after() -> None:
    t, _ = staged()
    due = T0 + timedelta(days=3)
    assert core.reminders(t, due - timedelta(days=1, seconds=1)) == []
    assert {p.participant_id for p in core.reminders(t, due - timedelta(hours=23))} == {"p1", "d1"}
    assert core.reminders(t, due) == [] and len(core.overdue(t, due)) == 2


def test_after_deadline_answers_stay_hidden_from_the_other_side() -> None:
    t, qid = staged(Visibility.AFTER_DEADLINE)
    t = core.applied(t, ok(answer(t, qid, "p1", T0)))
    a = t.answers[0]
    due = T0 + timedelta(days=3)
    assert core.may_see(t, a, "p1", staff=False, now=T0)
    assert core.may_see(t, a, "j", staff=True, now=T0)
    assert not core.may_see(t, a, "d1", staff=False, now=due - timedelta(seconds=1))
    assert core.may_see(t, a, "d1", staff=False, now=due)
    t = core.applied(t, ok(answer(t, qid, "d1", T0 + timedelta(hours=1))))
    assert core.may_see(t, a, "d1", staff=False, now=T0 + timedelta(hours=1))  # answered: nothing left to copy
    t2, qid2 = staged(Visibility.AT_ONCE)
    t2 = core.applied(t2, ok(answer(t2, qid2, "p1", T0)))
    assert core.may_see(t2, t2.answers[0], "d1", staff=False, now=T0)
    assert not core.may_see(t2, t2.answers[0], "k", staff=False, now=T0)  # not staff, not a party: nothing


def test_the_answer_chain_finds_an_altered_answer() -> None:
    t, qid = staged()
    clip = ClipRef("clip1", "ab" * 32, 1000, "video/webm")
    for pid in ("p1", "d1"):
        t = core.applied(t, ok(answer(t, qid, pid, T0, clip=clip)))
    assert core.verify_chain(t.answers) is None
    altered = replace(t.answers[0], text="改过的")
    assert core.verify_chain([altered, t.answers[1]]) == t.answers[0].id
    other_clip = replace(t.answers[1], clip=replace(clip, sha256="cd" * 32))
    assert core.verify_chain([t.answers[0], other_clip]) == t.answers[1].id
    assert core.verify_chain([t.answers[1]]) == t.answers[1].id  # a removed answer breaks the link


# ---- the state machine under random operations ------------------------------------------------------------

PIDS = ["p1", "d1", "c1"]


class AsyncTrialMachine(RuleBasedStateMachine):
    """Random consents, stages, questions, answers, extensions and time; the court's invariants hold throughout."""

    @initialize()
    def start(self) -> None:
        self.t = trial("in_session")
        self.now = T0

    def _do(self, result: Change | Refused) -> None:
        if isinstance(result, Change):
            before = self.t
            self.t = core.applied(self.t, result)
            self.check_change(before, result)

    def check_change(self, before: TrialSnapshot, change: Change) -> None:
        if change.stage is not None:
            assert core.schedule_refusal(before) is None and core.open_stage(before) is None
        if change.consent is not None:
            assert not before.stages
        if change.answer is not None:
            q = next(q for q in before.questions if q.id == change.answer.question_id)
            stage = core.stage_of(before, q.stage_id)
            assert stage is not None and stage.is_open
            assert change.answer.submitted_at < core.due_for(before, stage, change.answer.participant_id)

    @rule(pid=st.sampled_from(PIDS), given=st.booleans())
    def give(self, pid: str, given: bool) -> None:
        self._do(core.decide_consent(self.t, pid, given=given, method=ConsentMethod.ONLINE, note="", recorded_by=pid,
                                     recorder_role=PARTIES[pid], at=self.now))

    @rule(kind=st.sampled_from(list(StageKind)), vis=st.sampled_from(list(Visibility)),
          days=st.integers(min_value=1, max_value=5))
    def open(self, kind: StageKind, vis: Visibility, days: int) -> None:
        self._do(core.decide_open_stage(self.t, kind, vis, days, by="j", role="presiding_judge", at=self.now,
                                        due_at=self.now + timedelta(days=days), stage_id=next(_ids)))

    @rule()
    def close(self) -> None:
        if (stage := core.open_stage(self.t)) is not None:
            self._do(core.decide_close_stage(self.t, stage.id, by="j", role="presiding_judge", at=self.now))

    @rule(to=st.one_of(st.none(), st.lists(st.sampled_from(PIDS), min_size=1, max_size=2)))
    def question(self, to: list[str] | None) -> None:
        if (stage := core.open_stage(self.t)) is not None:
            self._do(core.decide_question(self.t, stage.id, to, "问题", None, by="j", role="presiding_judge",
                                          at=self.now, question_id=next(_ids)))

    @rule(pid=st.sampled_from(PIDS), n=st.integers(min_value=0, max_value=5))
    def reply(self, pid: str, n: int) -> None:
        if self.t.questions:
            q = self.t.questions[n % len(self.t.questions)]
            self._do(answer(self.t, q.id, pid, self.now))

    @rule(pid=st.sampled_from(PIDS), days=st.integers(min_value=1, max_value=3))
    def extend(self, pid: str, days: int) -> None:
        if (stage := core.open_stage(self.t)) is not None:
            self._do(core.decide_extension(self.t, stage.id, [pid], self.now + timedelta(days=days), "理由", by="j",
                                           role="presiding_judge", at=self.now, ids=[next(_ids)]))

    @rule(hours=st.integers(min_value=1, max_value=60))
    def wait(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @invariant()
    def court_rules_hold(self) -> None:
        t = self.t
        assert sum(s.is_open for s in t.stages) <= 1
        order = [core.STAGE_ORDER.index(s.kind) for s in t.stages]
        assert order == sorted(set(order))
        pairs = [(a.question_id, a.participant_id) for a in t.answers]
        assert len(pairs) == len(set(pairs))
        assert core.verify_chain(t.answers) is None
        if t.kind == "trial":
            assert not t.stages  # a withdrawal only happens before any stage
        for a in t.answers:
            q = next(q for q in t.questions if q.id == a.question_id)
            stage = core.stage_of(t, q.stage_id)
            assert stage is not None
            for viewer in PIDS:
                if viewer != a.participant_id and core.may_see(t, a, viewer, staff=False, now=self.now):
                    assert stage.visibility is Visibility.AT_ONCE or not stage.is_open or all(
                        self.now >= core.due_for(t, stage, pid) for pid in q.addressees) or core.answered(
                        t, q.id, viewer) is not None


AsyncTrialMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None,
                                               suppress_health_check=[HealthCheck.too_slow])
test_async_trial_machine = AsyncTrialMachine.TestCase


def test_every_refusal_code_has_a_chinese_and_an_english_text() -> None:
    import re
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "web" / "js" / "i18n.js").read_text(encoding="utf-8")
    codes = {c.value for c in Code} | {"not_admitted", "token_refused", "forbidden"}
    # One key form for every server code (err_<code>), once in the zh table and once in the en table.
    missing = {c for c in codes if len(re.findall(rf"\berr_{c}:", source)) < 2}
    assert not missing, missing
