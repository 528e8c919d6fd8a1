"""The court records what became of a case for each party: judgments performed, settlements, enforcement.

These are this platform's own litigation facts (source `court`), written to the facts register (docket.facts) where
the integrity code and the points exchange read them — hearing/ writes outcomes to docket/, those services never
call hearing/. A clerk records each outcome once: the reference (the court's document number) makes the request
idempotent, and a different outcome under the same reference is refused rather than overwritten.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from docket.audit import AuditEvent
from docket.facts import COURT_SOURCE, Fact, FactKind, FactRecords, NewFact
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.staff_auth import AUDIT_ROLE, Permission, StaffPrincipal

OUTCOME_KINDS = frozenset({
    FactKind.JUDGMENT_PERFORMED_ON_TIME, FactKind.JUDGMENT_PERFORMED_LATE, FactKind.SETTLEMENT_REACHED,
    FactKind.SETTLEMENT_PERFORMED, FactKind.SETTLEMENT_VOID, FactKind.ENFORCEMENT_OPENED, FactKind.ENFORCEMENT_CLOSED,
    FactKind.SPENDING_RESTRICTION, FactKind.SPENDING_RESTRICTION_LIFTED, FactKind.DEFAULTER_LISTED,
    FactKind.DEFAULTER_DELISTED,
})
"""What a clerk records; party-to-case and mediation participation are recorded by the platform itself."""
SETTLEMENT_KINDS = frozenset({FactKind.SETTLEMENT_REACHED, FactKind.SETTLEMENT_PERFORMED, FactKind.SETTLEMENT_VOID})


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(min_length=1, max_length=64, description="a party of the case")
    kind: FactKind
    occurred_on: date
    reference: str = Field(min_length=1, max_length=100,
                           description="the court's document number (judgment, settlement, enforcement order)")
    settlement_id: str | None = Field(None, max_length=64,
                                      description="for settlement outcomes: which settlement of the case")
    expires_on: date | None = None


class OutcomeOut(BaseModel):
    fact_id: str
    person_id: str
    kind: str
    occurred_on: date
    case_number: str | None
    reference: str
    expires_on: date | None


def outcome_out(f: Fact) -> OutcomeOut:
    return OutcomeOut(fact_id=f.id, person_id=f.person_id, kind=f.kind.value, occurred_on=f.occurred_on,
                      case_number=f.case_number, reference=f.source_ref, expires_on=f.expires_on)


def outcomes_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["register"], responses=ERROR_RESPONSES)
    writer = Depends(deps.require(Permission.WRITE_REGISTER))
    reader = Depends(deps.require(Permission.READ_REGISTER))

    def facts_register() -> FactRecords:
        if ctx.facts is None:
            raise ApiError(503, "unavailable", "the facts register is not configured in this process")
        return ctx.facts

    @router.post("/cases/{case_id}/outcomes", response_model=OutcomeOut, status_code=status.HTTP_201_CREATED)
    async def record_outcome(case_id: str, body: OutcomeIn, principal: StaffPrincipal = writer) -> OutcomeOut:
        """Record what became of the case for one party (e.g. a judgment performed on time, a settlement)."""
        facts = facts_register()
        if body.kind not in OUTCOME_KINDS:
            raise ApiError(422, "invalid_request", f"{body.kind.value} is recorded by the platform itself; record one "
                                                   f"of {', '.join(sorted(k.value for k in OUTCOME_KINDS))}")
        if body.occurred_on > datetime.now(UTC).date():
            raise ApiError(422, "invalid_request", "occurred_on is in the future; record an outcome once it happened")
        if body.expires_on is not None and body.expires_on <= body.occurred_on:
            raise ApiError(422, "invalid_request", "expires_on must come after occurred_on")
        case = await ctx.court.get_case(case_id)
        if body.person_id not in {p.person_id for p in case.parties}:
            raise ApiError(422, "invalid_request",
                           f"person {body.person_id!r} is not a party of case {case.case_number}")
        details = {"settlement_id": body.settlement_id or ""} if body.kind in SETTLEMENT_KINDS else {}
        ref = f"outcome:{case.id}:{body.person_id}:{body.kind.value}:{body.reference}"
        fact = await facts.add_fact(
            NewFact(body.person_id, body.kind, body.occurred_on, COURT_SOURCE, ref, case.case_number, details,
                    body.expires_on),
            audit=AuditEvent(principal.id, AUDIT_ROLE, "integrity.fact_recorded", f"person:{body.person_id}",
                             {"kind": body.kind.value, "case_id": case.id, "source": COURT_SOURCE}))
        return outcome_out(fact)

    @router.get("/cases/{case_id}/outcomes", response_model=list[OutcomeOut])
    async def list_outcomes(case_id: str, principal: StaffPrincipal = reader) -> list[OutcomeOut]:
        """The court's recorded outcomes of the case, for all its parties."""
        facts = facts_register()
        case = await ctx.court.get_case(case_id)
        found: list[OutcomeOut] = []
        for person_id in dict.fromkeys(p.person_id for p in case.parties):
            found += [outcome_out(f) for f in await facts.facts_of(person_id)
                      if f.case_number == case.case_number and f.source == COURT_SOURCE and f.kind in OUTCOME_KINDS]
        return found

    return router
