"""This platform's own litigation facts: what happens in its hearings, written to the facts register (docket.facts).

A procedure listener (`ProcedureService.listeners`, wired in app/services.py). When a hearing moves:
- out of `scheduled` (its first transition) and when it closes: a `party_to_case` fact for each party of its case,
  under the same source and reference as `integrity.service.IntegrityService.sync_case_parties`
  (`court` / `party:<case id>:<person id>`, occurred on the day the case was registered), so the two writers
  never record one party twice;
- when a MEDIATION hearing closes: a `mediation_participation` fact for each plaintiff and defendant participant
  who was admitted to it (`court` / `hearing:<hearing id>:participant:<participant id>`, occurred on the day it
  closed in the court's time zone, with the case number).

Every fact is keyed by what it records and its content is derived only from stored, unchanging data (the case,
the participant, the close time of this transition), so recording it again — a listener called twice, a retry —
returns the stored fact and changes nothing (the register is idempotent on (source, source_ref)). The integrity
code and the points exchange read these facts from docket/; they never call hearing/.

The whole thing is best effort after the transition committed: ProcedureService logs a listener's failure and
the transition stands. `sync_hearing` can be called again (e.g. from a repair job) to fill any gap.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from docket.audit import AuditEvent
from docket.court import Case, CourtRecords, Hearing, HearingKind, Participant, ParticipantStatus
from docket.facts import COURT_SOURCE, Fact, FactKind, NewFact, party_ref
from hearing.kinds import ProcedureState
from hearing.procedure_service import Applied
from hearing.roles import Role

log = logging.getLogger("hearing.facts")

PARTY_ROLES = frozenset({Role.PLAINTIFF.value, Role.DEFENDANT.value})
AUDIT_ACTION = "integrity.fact_recorded"  # the same action as IntegrityService.record_fact


class FactWriter(Protocol):
    async def add_fact(self, fact: NewFact, *, audit: AuditEvent | None = None) -> Fact: ...


def participation_ref(hearing_id: str, participant_id: str) -> str:
    return f"hearing:{hearing_id}:participant:{participant_id}"


def party_facts(case: Case) -> list[NewFact]:
    """`party_to_case` facts for every party of the case, as sync_case_parties states them."""
    return [NewFact(p.person_id, FactKind.PARTY_TO_CASE, case.created_at.date(), COURT_SOURCE,
                    party_ref(case.id, p.person_id), case.case_number)
            for p in dict((p.person_id, p) for p in case.parties).values()]


def participation_facts(hearing: Hearing, case: Case, participants: Sequence[Participant],
                        closed_on: date) -> list[NewFact]:
    """`mediation_participation` facts for the admitted plaintiffs and defendants of a mediation hearing."""
    if hearing.kind is not HearingKind.MEDIATION:
        return []
    return [NewFact(p.person_id, FactKind.MEDIATION_PARTICIPATION, closed_on, COURT_SOURCE,
                    participation_ref(hearing.id, p.id), case.case_number, {"hearing_id": hearing.id, "role": p.role})
            for p in participants if p.role in PARTY_ROLES and p.status is ParticipantStatus.ADMITTED]


def _audit(fact: NewFact, hearing_id: str) -> AuditEvent:
    """Appended with the fact when it is new (ids only); who closed the hearing is in the transition's entry."""
    details: dict[str, Any] = {"source": fact.source, "source_ref": fact.source_ref, "kind": str(fact.kind),
                               "hearing_id": hearing_id}
    return AuditEvent("system", "system", AUDIT_ACTION, f"person:{fact.person_id}", details)


@dataclass
class FactsBridge:
    """`procedure.listeners.append(FactsBridge(court, SqlFactRecords(court.engine, court.url)).on_procedure)`."""

    court: CourtRecords
    facts: FactWriter
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    async def on_procedure(self, applied: Applied) -> None:
        moved = applied.moved
        closing = moved.target is ProcedureState.CLOSED
        if moved.source is ProcedureState.SCHEDULED or closing:
            await self.sync_hearing(applied.hearing, closed_at=applied.hearing.state_changed_at if closing else None)

    async def sync_hearing(self, hearing: Hearing | str, *, closed_at: datetime | None = None) -> list[Fact]:
        """Record the hearing's facts: its case's parties, and (with `closed_at`, for a mediation) who took part.
        Idempotent; returns the facts (new or already stored)."""
        if isinstance(hearing, str):
            hearing = await self.court.get_hearing(hearing)
        case = await self.court.get_case(hearing.case_id)
        wanted = party_facts(case)
        if closed_at is not None:
            wanted += participation_facts(hearing, case, await self.court.list_participants(hearing.id),
                                          closed_at.astimezone(self.tz).date())
        stored: list[Fact] = []
        for fact in wanted:
            stored.append(await self.facts.add_fact(fact, audit=_audit(fact, hearing.id)))
        return stored
