"""The platform's own facts (hearing.facts_bridge) on SQLite and PostgreSQL: closing a mediation through the
ProcedureService records one `mediation_participation` fact per admitted party, `party_to_case` facts agree with
the integrity service's own writer, and the points exchange credits the participation — end to end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.services import build_services, start_services, stop_services
from app.settings import load_settings
from docket.court import (
    Case,
    Hearing,
    HearingKind,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    Participant,
    ParticipantStatus,
    Party,
    PartySide,
)
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.facts import Fact, FactKind, party_ref
from docket.facts_sql import SqlFactRecords
from hearing.facts_bridge import FactsBridge, participation_ref
from hearing.procedure import RefusalCode, Refused, Transition
from hearing.procedure_service import Actor, Applied, ProcedureService
from hearing.roles import Role
from integrity.service import IntegrityService
from integrity.signing import CodeSigner
from points.service import PointsService
from points.store_sql import SqlPointsStore
from tests.conftest import free_port

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CLERK = Actor("clerk-1", Role.CLERK)
MEDIATOR = Actor("mediator-1", Role.MEDIATOR)
JUDGE = Actor("judge-1", Role.PRESIDING_JUDGE)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class World:
    court: SqlCourtRecords
    facts: SqlFactRecords
    bridge: FactsBridge
    procedure: ProcedureService
    integrity: IntegrityService
    points: PointsService


@pytest.fixture
async def world(court_url: str) -> AsyncIterator[World]:
    court = await open_court_records(court_url, id_hash_iterations=1_000)
    facts = SqlFactRecords(court.engine, court.url)
    bridge = FactsBridge(court, facts, SHANGHAI)
    procedure = ProcedureService(court, court.audit)
    procedure.listeners.append(bridge.on_procedure)
    try:
        yield World(court, facts, bridge, procedure, IntegrityService(court, facts, CodeSigner.generate()),
                    PointsService(facts, SqlPointsStore(court.engine, court.url)))
    finally:
        await court.close()


@dataclass
class Mediation:
    case: Case
    hearing: Hearing
    plaintiff: Participant
    defendant: Participant
    others: list[Participant]  # a waiting defendant, a denied plaintiff, an admitted witness, a removed defendant


async def _person(court: SqlCourtRecords, name: str) -> str:
    return (await court.create_person(NewPerson(name, birth_date=date(1980, 1, 3)))).id


async def _mediation(w: World, case: Case | None = None, kind: HearingKind = HearingKind.MEDIATION,
                     start: datetime = START) -> Mediation:
    c = w.court
    if case is None:
        p, d, t = await _person(c, "原告"), await _person(c, "被告"), await _person(c, "第三人")
        case = await c.create_case(NewCase(f"(2026)示例民初{uuid.uuid4().hex[:6]}号", "contract dispute",
                                           [Party(p, PartySide.PLAINTIFF), Party(d, PartySide.DEFENDANT),
                                            Party(t, PartySide.THIRD_PARTY)]))
    by_side = {p.side: p.person_id for p in case.parties}
    mediator = await _person(c, "调解员")
    hearing = await c.create_hearing(NewHearing(case.id, kind, start, start + timedelta(hours=2), panel=[mediator]))

    async def participant(person_id: str, role: Role, status: ParticipantStatus | None) -> Participant:
        p = await c.add_participant(NewParticipant(hearing.id, person_id, role.value))
        return p if status is None else await c.set_participant_status(p.id, status)

    plaintiff = await participant(by_side[PartySide.PLAINTIFF], Role.PLAINTIFF, ParticipantStatus.ADMITTED)
    defendant = await participant(by_side[PartySide.DEFENDANT], Role.DEFENDANT, ParticipantStatus.ADMITTED)
    others = [
        await participant(await _person(c, "候庭被告"), Role.DEFENDANT, None),  # still waiting
        await participant(await _person(c, "被拒原告"), Role.PLAINTIFF, ParticipantStatus.DENIED),
        await participant(await _person(c, "证人"), Role.WITNESS, ParticipantStatus.ADMITTED),
        await participant(await _person(c, "被请出"), Role.DEFENDANT, ParticipantStatus.REMOVED),
    ]
    return Mediation(case, hearing, plaintiff, defendant, others)


async def _run_to_close(w: World, hearing_id: str, lead: Actor = MEDIATOR) -> Applied:
    for actor, transition in ((CLERK, Transition.OPEN_LOBBY), (lead, Transition.START_SESSION)):
        assert isinstance(await w.procedure.transition(hearing_id, actor, transition), Applied)
    closed = await w.procedure.transition(hearing_id, lead, Transition.CLOSE)
    assert isinstance(closed, Applied), closed
    return closed


def _of_kind(facts: list[Fact], kind: FactKind) -> list[Fact]:
    return [f for f in facts if f.kind is kind]


async def _all_facts(w: World) -> list[Fact]:
    return await w.facts.facts_after(0, 10_000)


async def test_closing_a_mediation_records_participation_once_per_admitted_party(world: World) -> None:
    w = world
    m = await _mediation(w)
    closed = await _run_to_close(w, m.hearing.id)
    closed_on = closed.hearing.state_changed_at.astimezone(SHANGHAI).date()

    participation = _of_kind(await _all_facts(w), FactKind.MEDIATION_PARTICIPATION)
    assert sorted((f.person_id, f.source, f.source_ref) for f in participation) == sorted(
        (p.person_id, "court", participation_ref(m.hearing.id, p.id)) for p in (m.plaintiff, m.defendant))
    assert {(f.case_number, f.occurred_on) for f in participation} == {(m.case.case_number, closed_on)}
    assert {f.person_id: f.details["role"] for f in participation} == {m.plaintiff.person_id: "plaintiff",
                                                                       m.defendant.person_id: "defendant"}
    # Parties of the case (all three sides) are on record as parties, once.
    parties = _of_kind(await _all_facts(w), FactKind.PARTY_TO_CASE)
    assert sorted(f.source_ref for f in parties) == sorted(party_ref(m.case.id, p.person_id) for p in m.case.parties)
    assert not {o.person_id for o in m.others} & {f.person_id for f in await _all_facts(w)}

    # Idempotent by construction: the listener heard twice, or a repair run, adds nothing (and audits nothing).
    before, audit_before = await _all_facts(w), await w.court.audit.count()
    await w.bridge.on_procedure(closed)
    await w.bridge.on_procedure(closed)
    await w.bridge.sync_hearing(m.hearing.id, closed_at=closed.hearing.state_changed_at)
    assert await _all_facts(w) == before
    assert await w.court.audit.count() == audit_before
    # Closing twice is impossible.
    again = await w.procedure.transition(m.hearing.id, MEDIATOR, Transition.CLOSE)
    assert isinstance(again, Refused) and again.code is RefusalCode.WRONG_STATE
    assert await _all_facts(w) == before
    # Sealing the record records nothing more.
    assert isinstance(await w.procedure.transition(m.hearing.id, MEDIATOR, Transition.SEAL), Applied)
    assert await _all_facts(w) == before

    recorded = [e for e in await w.court.audit.entries(0, 1000) if e.action == "integrity.fact_recorded"]
    assert len(recorded) == len(before)
    assert {e.details["source_ref"] for e in recorded} == {f.source_ref for f in before}
    assert await w.court.audit.verify() is None


async def test_party_facts_agree_with_the_integrity_services_own_writer(world: World) -> None:
    w = world
    m = await _mediation(w)
    # The integrity service syncs one party first; the bridge then finds that fact, not a conflict.
    assert await w.integrity.sync_case_parties(m.plaintiff.person_id, actor_id="clerk-1") == 1
    first = await w.facts.find_fact("court", party_ref(m.case.id, m.plaintiff.person_id))
    assert isinstance(await w.procedure.transition(m.hearing.id, CLERK, Transition.OPEN_LOBBY), Applied)
    assert await w.facts.find_fact("court", party_ref(m.case.id, m.plaintiff.person_id)) == first
    # ... and after the bridge, the integrity service has nothing left to add for anyone.
    for party in m.case.parties:
        assert await w.integrity.sync_case_parties(party.person_id, actor_id="clerk-1") == 0
    assert len(_of_kind(await _all_facts(w), FactKind.PARTY_TO_CASE)) == len(m.case.parties)
    # Party facts are neutral for the integrity code.
    assert (await w.integrity.code(m.plaintiff.person_id)).colour == "green"


async def test_a_trial_records_parties_but_no_participation(world: World) -> None:
    w = world
    m = await _mediation(w, kind=HearingKind.TRIAL)  # admitted plaintiff and defendant, but a trial
    await _run_to_close(w, m.hearing.id, JUDGE)
    facts = await _all_facts(w)
    assert _of_kind(facts, FactKind.MEDIATION_PARTICIPATION) == []
    assert len(_of_kind(facts, FactKind.PARTY_TO_CASE)) == len(m.case.parties)


async def test_a_mediation_on_this_platform_earns_participation_points_once_per_case(world: World) -> None:
    w = world
    m = await _mediation(w)
    await _run_to_close(w, m.hearing.id)
    plaintiff = m.plaintiff.person_id
    assert (await w.points.reconcile(plaintiff)).credited == 1
    assert await w.points.balance(plaintiff) == 20
    assert (await w.points.reconcile(plaintiff)).credited == 0
    [line] = await w.points.history(plaintiff)
    assert (line.reason, line.points, line.balance_after) == ("mediation_participation", 20, 20)
    participation = await w.facts.find_fact("court", participation_ref(m.hearing.id, m.plaintiff.id))
    assert participation is not None and line.reference == participation.id

    # A second mediation session in the same case: another fact, but points once per case.
    second = await _mediation(w, case=m.case, start=START + timedelta(days=7))
    await _run_to_close(w, second.hearing.id)
    assert len(_of_kind(await w.facts.facts_of(plaintiff), FactKind.MEDIATION_PARTICIPATION)) == 2
    await w.points.reconcile(plaintiff)
    assert await w.points.balance(plaintiff) == 20
    # Following new facts credits the defendant too; nobody else earns.
    await w.points.follow_facts()
    assert await w.points.balance(m.defendant.person_id) == 20
    for other in m.others:
        assert await w.points.balance(other.person_id) == 0
    # Participation is neutral for the integrity code.
    assert (await w.integrity.code(plaintiff)).score == 70


async def test_build_services_wires_the_bridge(tmp_path: Path) -> None:
    settings = load_settings(
        HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", HEARING_TOKEN_SECRET="test-secret-" + "x" * 32,
        hearing_env="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'court.db'}", redis_url="",
        s3_endpoint="", media_enabled=False,
    )
    services = build_services(settings)
    await start_services(services)
    try:
        facts = SqlFactRecords(services.court.engine, services.court.url)
        court = services.court
        w = World(court, facts, FactsBridge(court, facts), services.procedure,
                  IntegrityService(court, facts, CodeSigner.generate()),
                  PointsService(facts, SqlPointsStore(court.engine, court.url)))
        m = await _mediation(w)
        await _run_to_close(w, m.hearing.id)
        assert len(_of_kind(await facts.facts_of(m.plaintiff.person_id), FactKind.MEDIATION_PARTICIPATION)) == 1
        assert (await w.points.reconcile(m.plaintiff.person_id)).credited == 1
    finally:
        await stop_services(services)
