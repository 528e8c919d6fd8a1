"""The litigation facts register: what the court knows about a person's conduct in litigation, one fact a row.

Facts are the only input of the integrity code (个人诚信码, integrity/) and of the points exchange (points/):
both read them here, never from hearing/. A fact comes from this platform (hearing/ writes a judgment's
performance or a settlement) or from outside (the city's data exchange, imported by integrity.imports).
Every fact names its `source` and a `source_ref` unique within that source, which makes recording idempotent:
re-sending the same fact returns the stored one, sending different content under the same reference is refused
(`ConflictingFact`) rather than silently overwriting history.

`seq` numbers facts in commit order without gaps, so a service that follows new facts (`facts_after`) never
skips one that committed late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from docket.audit import AuditEvent
from docket.records import RecordsError


class FactKind(StrEnum):
    """What happened. The rules that weigh these live in integrity.rules and points/, not here."""

    PARTY_TO_CASE = "party_to_case"
    JUDGMENT_PERFORMED_ON_TIME = "judgment_performed_on_time"
    JUDGMENT_PERFORMED_LATE = "judgment_performed_late"
    SETTLEMENT_REACHED = "settlement_reached"  # 调解协议 signed
    SETTLEMENT_PERFORMED = "settlement_performed"
    SETTLEMENT_VOID = "settlement_void"
    MEDIATION_PARTICIPATION = "mediation_participation"
    ENFORCEMENT_OPENED = "enforcement_opened"  # 强制执行
    ENFORCEMENT_CLOSED = "enforcement_closed"
    SPENDING_RESTRICTION = "spending_restriction"  # 限制高消费
    SPENDING_RESTRICTION_LIFTED = "spending_restriction_lifted"
    DEFAULTER_LISTED = "defaulter_listed"  # 失信被执行人: listed as a judgment defaulter
    DEFAULTER_DELISTED = "defaulter_delisted"


class ConflictingFact(RecordsError):
    """A fact with the same (source, source_ref) is already recorded with different content."""

    def __init__(self, source: str, source_ref: str, existing_id: str) -> None:
        super().__init__(
            f"fact {source}/{source_ref} is already recorded (as {existing_id}) with different content; "
            "facts are never overwritten: record a correcting fact under a new source_ref instead"
        )
        self.source = source
        self.source_ref = source_ref
        self.existing_id = existing_id


@dataclass(frozen=True)
class NewFact:
    """A fact as a caller states it. `expires_on` is when the source says the fact stops counting (None: the
    rules decide); `details` is small JSON (ids and codes, no personal data)."""

    person_id: str
    kind: FactKind
    occurred_on: date
    source: str  # e.g. "court" for this platform, "city-exchange" for imports
    source_ref: str  # unique within `source`: the idempotency key
    case_number: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    expires_on: date | None = None


@dataclass(frozen=True)
class Fact:
    """A recorded fact: the `NewFact` plus its id, commit-order `seq` and when the register recorded it."""

    person_id: str
    kind: FactKind
    occurred_on: date
    source: str
    source_ref: str
    case_number: str | None
    details: Mapping[str, Any]
    expires_on: date | None
    id: str
    seq: int
    recorded_at: datetime

    def same_content(self, new: NewFact) -> bool:
        """Whether `new` states exactly this fact (used for idempotent re-recording)."""
        return (
            self.person_id == new.person_id and self.kind == FactKind(new.kind)
            and self.occurred_on == new.occurred_on and self.source == new.source
            and self.source_ref == new.source_ref and self.case_number == new.case_number
            and dict(self.details) == dict(new.details) and self.expires_on == new.expires_on
        )


@dataclass(frozen=True, slots=True)
class ParkedFact:
    """A fact the follower set aside after its handler kept failing (docket.tables_facts_follower)."""

    fact_id: str
    seq: int
    person_id: str
    handler: str
    error: str
    attempts: int
    parked_at: datetime
    retried_at: datetime | None


@runtime_checkable
class FactRecords(Protocol):
    async def add_fact(self, fact: NewFact, *, audit: AuditEvent | None = None) -> Fact:
        """Record `fact` (with `audit` appended in the same transaction when it is new).

        Idempotent on (source, source_ref): the identical fact again returns the stored one (and appends no
        audit entry); different content raises ConflictingFact; an unknown person raises NotFound."""
        ...

    async def facts_of(self, person_id: str) -> list[Fact]:
        """A person's facts ordered by (occurred_on, seq); empty for a person with none (or unknown)."""
        ...

    async def facts_after(self, seq: int, limit: int = 1000) -> list[Fact]:
        """Facts with seq > `seq` in seq order, at most `limit`: for services that follow new facts."""
        ...


COURT_SOURCE = "court"
"""The source of this platform's own facts (imports may not use it)."""


def party_ref(case_id: str, person_id: str) -> str:
    """The reference of a court `party_to_case` fact: every writer uses this, so they never duplicate one."""
    return f"party:{case_id}:{person_id}"
