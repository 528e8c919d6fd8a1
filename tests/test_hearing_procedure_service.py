"""The procedure service on SQLite and PostgreSQL: state change and audit entry together, or neither."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from docket.audit import AuditEvent
from docket.court import Hearing, HearingKind, NewCase, NewHearing, NewPerson, NotFound
from docket.court_sql import SqlCourtRecords
from hearing.procedure import RefusalCode, Refused, Transition
from hearing.procedure_service import Actor, Applied, ProcedureService
from hearing.roles import Role

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
JUDGE = Actor("judge-1", Role.PRESIDING_JUDGE)
CLERK = Actor("clerk-1", Role.CLERK)


async def _hearing(court: SqlCourtRecords, kind: HearingKind = HearingKind.TRIAL) -> Hearing:
    judge = await court.create_person(NewPerson("王审判长"))
    case = await court.create_case(NewCase(f"(2026)示例{kind.value}1号", "contract dispute"))
    return await court.create_hearing(NewHearing(case.id, kind, START, START + timedelta(hours=2), panel=[judge.id]))


async def test_a_trial_runs_to_sealed_with_every_step_audited(court: SqlCourtRecords) -> None:
    service = ProcedureService(court, court.audit)
    h = await _hearing(court)
    steps = [(CLERK, Transition.OPEN_LOBBY), (JUDGE, Transition.START_SESSION), (JUDGE, Transition.RECESS),
             (JUDGE, Transition.RESUME), (JUDGE, Transition.CLOSE), (JUDGE, Transition.SEAL)]
    for actor, transition in steps:
        outcome = await service.transition(h.id, actor, transition)
        assert isinstance(outcome, Applied), outcome
        assert outcome.hearing.state == outcome.moved.target.value
    assert (await court.get_hearing(h.id)).state == "record_sealed"
    entries = await court.audit.entries()
    assert [e.details["transition"] for e in entries] == [t.value for _, t in steps]
    assert [(e.actor_id, e.actor_role) for e in entries][:2] == [("clerk-1", "clerk"), ("judge-1", "presiding_judge")]
    assert entries[1].details == {"transition": "start_session", "from": "lobby_open", "to": "in_session",
                                  "kind": "trial"}
    assert {e.subject for e in entries} == {f"hearing:{h.id}"}
    assert await court.audit.verify() is None

    sealed = await service.transition(h.id, JUDGE, Transition.RESUME)
    assert isinstance(sealed, Refused) and sealed.code is RefusalCode.TERMINAL
    assert await court.audit.count() == len(steps)  # refusals for the state are not audited


async def test_a_refusal_for_lack_of_authority_is_audited_and_changes_nothing(court: SqlCourtRecords) -> None:
    service = ProcedureService(court, court.audit)
    h = await _hearing(court)
    await service.transition(h.id, CLERK, Transition.OPEN_LOBBY)
    refused = await service.transition(h.id, Actor("party-9", Role.PLAINTIFF), Transition.START_SESSION)
    assert isinstance(refused, Refused) and refused.code is RefusalCode.NOT_PERMITTED
    assert (await court.get_hearing(h.id)).state == "lobby_open"
    last = (await court.audit.entries())[-1]
    assert last.action == "procedure.refused" and last.actor_id == "party-9"
    assert last.details == {"transition": "start_session", "state": "lobby_open", "kind": "trial",
                            "code": "not_permitted"}
    wrong = await service.transition(h.id, JUDGE, Transition.SEAL)
    assert isinstance(wrong, Refused) and wrong.code is RefusalCode.WRONG_STATE
    with pytest.raises(NotFound):
        await service.transition("nope", JUDGE, Transition.OPEN_LOBBY)


async def test_the_state_change_and_its_entry_commit_together(court: SqlCourtRecords) -> None:
    """An audit entry that cannot be written (here: personal data in it) takes the state change down with it."""
    h = await _hearing(court)
    with pytest.raises(ValueError, match="personal data"):
        await court.set_hearing_state(h.id, "scheduled", "lobby_open",
                                      audit=AuditEvent("x", "clerk", "procedure.transition", "h", {"name": "张三"}))
    assert (await court.get_hearing(h.id)).state == "scheduled"
    assert await court.audit.count() == 0


async def test_concurrent_identical_requests_move_once(court: SqlCourtRecords) -> None:
    service = ProcedureService(court, court.audit)
    h = await _hearing(court, HearingKind.MEDIATION)
    mediator = Actor("mediator-1", Role.MEDIATOR)
    outcomes = await asyncio.gather(*(service.transition(h.id, mediator, Transition.OPEN_LOBBY) for _ in range(6)))
    applied = [o for o in outcomes if isinstance(o, Applied)]
    assert len(applied) == 1
    assert all(isinstance(o, Refused) and o.code is RefusalCode.WRONG_STATE for o in outcomes if o not in applied)
    assert await court.audit.count() == 1 and await court.audit.verify() is None


async def test_deliberation_cannot_be_moved_by_anyone_off_the_panel(court: SqlCourtRecords) -> None:
    service = ProcedureService(court, court.audit)
    h = await _hearing(court, HearingKind.DELIBERATION)
    for role in (Role.PLAINTIFF, Role.COUNSEL, Role.OBSERVER, Role.MEDIATOR):
        outcome = await service.transition(h.id, Actor("x", role), Transition.OPEN_LOBBY)
        assert isinstance(outcome, Refused) and outcome.code is RefusalCode.NOT_PERMITTED
    assert isinstance(await service.transition(h.id, CLERK, Transition.OPEN_LOBBY), Applied)
