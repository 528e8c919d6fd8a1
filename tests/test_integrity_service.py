"""The integrity service on SQLite and PostgreSQL: agency scopes and purpose, audit per query, rate limit, appeals
(a decision and its recomputation commit together), access links and their revocation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

import integrity.service as service_module
from docket.audit import AuditEntry, AuditEvent
from docket.court import InvalidRecord, NewCase, NewPerson, NotFound, Party, PartySide
from docket.court_sql import SqlCourtRecords
from docket.facts import FactKind, NewFact
from docket.facts_sql import SqlFactRecords
from integrity.service import (
    AccessDenied,
    AccessRevoked,
    AgencyUnknown,
    AlreadyDecided,
    AppealStatus,
    IntegrityService,
    PurposeMissing,
    RateLimited,
    ScopeDenied,
)
from integrity.signing import CodeSigner, verify


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(court: SqlCourtRecords, clock: Clock) -> IntegrityService:
    return IntegrityService(court, SqlFactRecords(court.engine, court.url), CodeSigner.generate(), clock=clock,
                            query_rate=1.0, query_burst=3)


async def _adult(court: SqlCourtRecords) -> str:
    return (await court.create_person(NewPerson("张三", birth_date=date(1980, 1, 1)))).id


async def test_agency_query_needs_scope_and_purpose_and_is_audited(service: IntegrityService,
                                                                   court: SqlCourtRecords, clock: Clock) -> None:
    person = await _adult(court)
    await service.facts.add_fact(NewFact(person, FactKind.ENFORCEMENT_OPENED, date(2026, 2, 1), "city-exchange",
                                         "X-1", "(2026)示例执1号"))
    agency, key = await service.create_agency("市住建局", ["subsidy"], actor_id="admin-1")
    assert (await service.authenticate_agency(key)).id == agency.id
    with pytest.raises(AgencyUnknown):
        await service.authenticate_agency(key + "x")
    audit_before = len(await court.audit.entries(limit=1000))

    for scope, purpose, error in (("subsidy", "", PurposeMissing), ("subsidy", "  ", PurposeMissing),
                                  ("hiring", "post 12 application", ScopeDenied),
                                  ("everything", "post 12 application", ScopeDenied)):
        with pytest.raises(error):
            await service.query(agency, person, scope, purpose)
    with pytest.raises(NotFound):
        await service.query(agency, "nobody", "subsidy", "housing subsidy application 7")
    assert await service.queries_of(person) == []
    assert len(await court.audit.entries(limit=1000)) == audit_before  # refusals change nothing

    answer = await service.query(agency, person, "subsidy", "housing subsidy application 7")
    assert answer.colour == "yellow"
    claims = verify(answer.verification_code, service.signer.public_pem(), clock.now)
    assert claims.colour == "yellow" and claims.expires_at == answer.valid_until
    assert "示例" not in answer.verification_code and person not in answer.verification_code

    entries = await court.audit.entries(limit=1000)
    queried = [e for e in entries if e.action == "integrity.queried"]
    assert len(queried) == 1 and queried[0].actor_id == agency.id
    assert queried[0].details == {"agency_id": agency.id, "person_id": person, "query_id": queried[0].details[
        "query_id"], "scope": "subsidy", "purpose": "housing subsidy application 7", "colour": "yellow"}
    assert await court.audit.verify() is None
    seen = await service.queries_of(person)
    assert [(q.agency_id, q.agency_name, q.scope, q.colour) for q in seen] == [(agency.id, "市住建局", "subsidy",
                                                                                "yellow")]


async def test_queries_are_rate_limited_per_agency(service: IntegrityService, court: SqlCourtRecords,
                                                   clock: Clock) -> None:
    person = await _adult(court)
    a, _ = await service.create_agency("A", ["hiring"], actor_id="admin-1")
    b, _ = await service.create_agency("B", ["hiring"], actor_id="admin-1")
    for _ in range(3):
        await service.query(a, person, "hiring", "candidate check 1")
    with pytest.raises(RateLimited) as info:
        await service.query(a, person, "hiring", "candidate check 1")
    assert info.value.retry_after > 0
    await service.query(b, person, "hiring", "candidate check 2")  # another agency has its own bucket
    clock.now += timedelta(seconds=1)
    await service.query(a, person, "hiring", "candidate check 3")
    assert len(await service.queries_of(person)) == 5
    assert await court.audit.verify() is None


async def test_minors_are_answered_without_a_colour(service: IntegrityService, court: SqlCourtRecords) -> None:
    minor = (await court.create_person(NewPerson("小明", birth_date=date(2012, 5, 1)))).id
    await service.facts.add_fact(NewFact(minor, FactKind.DEFAULTER_LISTED, date(2026, 2, 1), "city-exchange", "m1"))
    view = await service.code(minor)
    assert view.colour is None and view.score is None and view.reasons == () and view.not_scored == "minor"
    agency, _ = await service.create_agency("A", ["hiring"], actor_id="admin-1")
    assert (await service.query(agency, minor, "hiring", "candidate check")).colour == "none"


async def test_appeal_flow_is_recorded_and_recomputes(service: IntegrityService, court: SqlCourtRecords) -> None:
    person = await _adult(court)
    listed, view = await service.record_fact(
        NewFact(person, FactKind.DEFAULTER_LISTED, date(2026, 3, 1), "city-exchange", "D-1", "(2026)示例执9号"),
        actor_id="import-1", actor_role="staff")
    assert view.colour == "red" and view.reasons[0].fact_ids == (listed.id,)
    with pytest.raises(InvalidRecord):
        await service.file_appeal(person, "appeal", "not me", fact_ids=["someone-elses-fact"])
    with pytest.raises(InvalidRecord):
        await service.file_appeal(person, "complaint", "not me")
    appeal = await service.file_appeal(person, "appeal", "The debt was paid in 2025.",
                                       evidence=["exhibits/receipt-1.pdf"], fact_ids=[listed.id])
    assert [a.id for a in await service.appeals()] == [appeal.id]

    refused = await service.file_appeal(person, "repair", "Please lift it early.")
    decided, after = await service.decide(refused.id, judge_id="judge-1", grant=False, decision="No evidence.")
    assert decided.status is AppealStatus.REFUSED and after.colour == "red"

    decided, after = await service.decide(appeal.id, judge_id="judge-1", grant=True, decision="Receipt verified.")
    assert decided.status is AppealStatus.GRANTED and decided.decided_by == "judge-1"
    assert after.colour == "green" and after.reasons == ()
    with pytest.raises(AlreadyDecided):
        await service.decide(appeal.id, judge_id="judge-2", grant=False, decision="again")
    with pytest.raises(NotFound):
        await service.decide("nope", judge_id="judge-1", grant=True, decision="x")
    assert await service.appeals() == []

    history = await service.history(person)
    assert [h.colour for h in history][:1] == ["green"] and history[0].trigger == f"appeal:{appeal.id}"
    assert "red" in [h.colour for h in history]
    actions = [e.action for e in await court.audit.entries(limit=1000)]
    for action in ("integrity.fact_recorded", "integrity.appeal_filed", "integrity.appeal_decided",
                   "integrity.recomputed"):
        assert action in actions
    assert await court.audit.verify() is None


async def test_codes_follow_new_facts_and_case_parties(service: IntegrityService, court: SqlCourtRecords) -> None:
    person = await _adult(court)
    await court.create_case(NewCase("(2026)示例民初5号", "loan", [Party(person, PartySide.DEFENDANT)]))
    assert await service.sync_case_parties(person, actor_id="clerk-1") == 1
    assert await service.sync_case_parties(person, actor_id="clerk-1") == 0
    assert await service.follow_facts() == [person]
    assert (await service.history(person))[0].colour == "green"
    await service.facts.add_fact(NewFact(person, FactKind.SPENDING_RESTRICTION, date(2026, 5, 1), "court", "sr-1",
                                         "(2026)示例民初5号"))
    assert await service.follow_facts() == [person]
    assert (await service.history(person))[0].colour == "yellow"
    assert await service.follow_facts() == []


async def test_person_access_links(service: IntegrityService, court: SqlCourtRecords, clock: Clock) -> None:
    person = await _adult(court)
    token = await service.issue_access(person, staff_id="clerk-1")
    assert await service.person_for_access(token) == person
    with pytest.raises(AccessDenied):
        await service.person_for_access(token[:-1])
    clock.now += timedelta(days=8)
    with pytest.raises(AccessDenied):
        await service.person_for_access(token)
    with pytest.raises(NotFound):
        await service.issue_access("nobody", staff_id="clerk-1")


async def _decision_state(service: IntegrityService, court: SqlCourtRecords, appeal_id: str,
                          person: str) -> tuple[AppealStatus, list[str], int]:
    """The appeal's status, the audit actions of decisions and recomputations, and the number of snapshots."""
    actions = [e.action for e in await court.audit.entries(limit=1000)
               if e.action in ("integrity.appeal_decided", "integrity.recomputed")]
    return (await service.get_appeal(appeal_id)).status, actions, len(await service.history(person, limit=1000))


async def _listed_with_appeal(service: IntegrityService, court: SqlCourtRecords) -> tuple[str, str]:
    person = await _adult(court)
    listed, _ = await service.record_fact(
        NewFact(person, FactKind.DEFAULTER_LISTED, date(2026, 3, 1), "city-exchange", "D-1", "(2026)示例执9号"),
        actor_id="import-1", actor_role="staff")
    appeal = await service.file_appeal(person, "appeal", "Paid in full.", fact_ids=[listed.id])
    return person, appeal.id


async def test_a_decision_fails_whole_if_its_recomputation_fails(service: IntegrityService, court: SqlCourtRecords,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The outcome, the recomputed snapshot and both audit entries are one transaction: a failure in the rules or
    in the recomputation's audit entry records nothing, the appeal stays pending, and deciding again works."""
    person, appeal_id = await _listed_with_appeal(service, court)
    before = await _decision_state(service, court, appeal_id, person)
    assert before[:2] == (AppealStatus.PENDING, [])
    audit_before = len(await court.audit.entries(limit=1000))

    def broken_rules(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("the rules failed")

    with monkeypatch.context() as m:
        m.setattr(service_module, "compute", broken_rules)
        with pytest.raises(RuntimeError, match="the rules failed"):
            await service.decide(appeal_id, judge_id="judge-1", grant=True, decision="Receipt verified.")
    assert await _decision_state(service, court, appeal_id, person) == before

    real_append = service_module.append_in

    async def failing_recomputed(conn: AsyncConnection, event: AuditEvent, **kw: Any) -> AuditEntry:
        if event.action == "integrity.recomputed":
            raise RuntimeError("the audit log failed")
        return await real_append(conn, event, **kw)

    with monkeypatch.context() as m:
        m.setattr(service_module, "append_in", failing_recomputed)
        with pytest.raises(RuntimeError, match="the audit log failed"):
            await service.decide(appeal_id, judge_id="judge-1", grant=True, decision="Receipt verified.")
    assert await _decision_state(service, court, appeal_id, person) == before
    assert len(await court.audit.entries(limit=1000)) == audit_before
    assert await court.audit.verify() is None

    decided, view = await service.decide(appeal_id, judge_id="judge-1", grant=True, decision="Receipt verified.")
    assert decided.status is AppealStatus.GRANTED and view.colour == "green"
    status, actions, snapshots = await _decision_state(service, court, appeal_id, person)
    assert (status, actions, snapshots) == (AppealStatus.GRANTED, ["integrity.appeal_decided",
                                                                   "integrity.recomputed"], before[2] + 1)
    entries = [e for e in await court.audit.entries(limit=1000)
               if e.action in ("integrity.appeal_decided", "integrity.recomputed")]
    assert entries[1].seq == entries[0].seq + 1 and entries[1].details["appeal_id"] == appeal_id
    assert (await service.history(person))[0].trigger == f"appeal:{appeal_id}"
    assert await court.audit.verify() is None


async def test_concurrent_decisions_record_one_outcome_and_one_recomputation(service: IntegrityService,
                                                                             court: SqlCourtRecords) -> None:
    person, appeal_id = await _listed_with_appeal(service, court)
    results = await asyncio.gather(
        *(service.decide(appeal_id, judge_id=f"judge-{i}", grant=i % 2 == 0, decision=f"decision {i}")
          for i in range(4)), return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1 and all(isinstance(r, AlreadyDecided) for r in results if r not in won)
    _, actions, _ = await _decision_state(service, court, appeal_id, person)
    assert actions == ["integrity.appeal_decided", "integrity.recomputed"]
    assert await court.audit.verify() is None


async def test_revoked_access_links_are_refused_with_their_reason(service: IntegrityService,
                                                                  court: SqlCourtRecords, clock: Clock) -> None:
    person, other = await _adult(court), await _adult(court)
    expired = await service.issue_access(person, staff_id="clerk-1", ttl=timedelta(hours=1))
    clock.now += timedelta(hours=2)
    live = [await service.issue_access(person, staff_id="clerk-1") for _ in range(2)]
    theirs = await service.issue_access(other, staff_id="clerk-1")

    assert await service.revoke_access(person, staff_id="clerk-2") == 2  # the expired link is not counted
    for token in live:
        with pytest.raises(AccessRevoked) as info:
            await service.person_for_access(token)
        assert info.value.status == 401 and info.value.code == "access_revoked"
        assert "withdrawn by the court" in str(info.value)
    with pytest.raises(AccessDenied) as denied:
        await service.person_for_access(expired)
    assert denied.value.code == "access_denied"
    assert await service.person_for_access(theirs) == other

    assert await service.revoke_access(person, staff_id="clerk-2") == 0
    revoked = [e for e in await court.audit.entries(limit=1000) if e.action == "integrity.access_revoked"]
    assert [(e.actor_id, e.subject, e.details) for e in revoked] == [("clerk-2", f"person:{person}", {"revoked": 2})]
    with pytest.raises(NotFound):
        await service.revoke_access("nobody", staff_id="clerk-2")
    fresh = await service.issue_access(person, staff_id="clerk-1")
    assert await service.person_for_access(fresh) == person


async def test_identical_agency_queries_leave_one_snapshot_but_every_query_is_recorded(
        service: IntegrityService, court: SqlCourtRecords, clock: Clock) -> None:
    """Snapshots are the code's history, not a query log: a repeat of the last result on the same facts is not
    stored again, while each query keeps its own row (the person's "who queried me") and audit entry."""
    person = await _adult(court)
    agency, _ = await service.create_agency("市住建局", ["subsidy"], actor_id="admin-1")
    for _ in range(5):
        assert (await service.query(agency, person, "subsidy", "housing subsidy application 7")).colour == "green"
        clock.now += timedelta(seconds=1)  # a refill of the bucket (1/s, burst 3)
    assert [(h.trigger, h.colour) for h in await service.history(person, limit=1000)] == [("queried", "green")]
    assert len(await service.queries_of(person)) == 5
    queried = [e for e in await court.audit.entries(limit=1000) if e.action == "integrity.queried"]
    assert len(queried) == 5 and len({e.details["query_id"] for e in queried}) == 5

    # New facts are a new basis: the next query's result is stored once, then repeats again add nothing.
    await service.facts.add_fact(NewFact(person, FactKind.ENFORCEMENT_OPENED, date(2026, 2, 1), "city-exchange",
                                         "X-9", "(2026)示例执1号"))
    for _ in range(2):
        assert (await service.query(agency, person, "subsidy", "housing subsidy application 8")).colour == "yellow"
        clock.now += timedelta(seconds=1)
    await service.code(person)  # a view of the same result adds nothing either
    assert [(h.trigger, h.colour) for h in await service.history(person, limit=1000)] == [
        ("queried", "yellow"), ("queried", "green")]
    assert len(await service.queries_of(person)) == 7
    assert await court.audit.verify() is None
