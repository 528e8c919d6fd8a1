"""The asynchronous trial's (异步审理) records and the store that keeps them: consents, stages, questions,
extensions and sealed answers.

The register keeps what happened; the rules (who may consent when, when a stage may open, whether an answer is in
time, who sees which answer) live in hearing.async_trial. Everything here is append-only except two marks: a stage's
`closed_at` and the hearing's kind, which a withdrawn consent turns back from `async_trial` into `trial`.

The store applies one decision at a time per hearing: `apply` locks the hearing's row, reads the whole trial in that
transaction, hands it to a pure decision and writes what the decision returns together with its audit entry. Two
submissions racing for one question, or a withdrawal racing the first stage's opening, are thereby decided one
after the other on fresh state, never both on the same old one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

from docket.audit import AuditEntry, AuditEvent

GENESIS = "0" * 64
"""The `prev_hash` of a hearing's first answer."""


class ConsentMethod(StrEnum):
    """How a party's consent (or its withdrawal) reached the court."""

    ONLINE = "online"  # the party clicked it through their own join link
    WRITTEN = "written"  # a signed paper form; the clerk records it with the form's reference
    ORAL_ON_RECORD = "oral_on_record"  # said to the clerk on a recorded call; the clerk notes where


class StageKind(StrEnum):
    """The stages of a trial, in their order (诉辩 → 举证质证 → 辩论 → 最后陈述)."""

    CLAIMS_DEFENCE = "claims_defence"
    EVIDENCE = "evidence"
    DEBATE = "debate"
    FINAL_STATEMENT = "final_statement"


STAGE_ORDER: tuple[StageKind, ...] = tuple(StageKind)


class Visibility(StrEnum):
    """When a party sees the other side's answers in a stage."""

    AT_ONCE = "at_once"
    AFTER_DEADLINE = "after_deadline"  # so neither side can copy the other


@dataclass(frozen=True, slots=True)
class Consent:
    """One consent or withdrawal; a party's current position is their latest."""

    hearing_id: str
    participant_id: str
    given: bool
    method: ConsentMethod
    note: str  # the paper form's reference, where the oral consent is recorded; "" for online
    recorded_by: str  # participant id of whoever recorded it (the party themself for online)
    at: datetime


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    hearing_id: str
    number: int  # 1, 2, ... in opening order
    kind: StageKind
    visibility: Visibility
    workdays: int
    opened_by: str
    opened_at: datetime
    due_at: datetime  # the end of the last working day (exclusive)
    closed_by: str | None = None
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    hearing_id: str
    stage_id: str
    number: int  # 1, 2, ... per hearing
    addressees: tuple[str, ...]  # participant ids
    text: str
    clip_id: str | None  # a recorded clip of the judge asking, if any
    clip_sha256: str | None
    posted_by: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class Extension:
    id: str
    hearing_id: str
    stage_id: str
    participant_id: str
    due_at: datetime
    reason: str
    granted_by: str
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class ClipRef:
    """A recorded clip an answer or question refers to: the clip store's id and what it checked."""

    clip_id: str
    sha256: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A sealed answer: `hash` covers every field and `prev_hash` (the hearing's previous answer), like a manifest."""

    id: str
    hearing_id: str
    question_id: str
    participant_id: str
    text: str
    clip: ClipRef | None
    exhibit_ids: tuple[str, ...]
    submitted_at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class TrialSnapshot:
    """Everything a decision needs, read in one transaction (under the hearing's row lock for writes)."""

    hearing_id: str
    kind: str  # the hearing's kind now: async_trial, or trial after a withdrawal
    state: str
    parties: Mapping[str, str]  # participant id → role, every participant (the rules pick parties out)
    consents: tuple[Consent, ...] = ()  # oldest first
    stages: tuple[Stage, ...] = ()  # by number
    questions: tuple[Question, ...] = ()  # by number
    extensions: tuple[Extension, ...] = ()  # oldest first
    answers: tuple[Answer, ...] = ()  # chain order

    @property
    def head_hash(self) -> str:
        return self.answers[-1].hash if self.answers else GENESIS


@dataclass(frozen=True, slots=True)
class Change:
    """What a decision writes; the store inserts the rows and appends `audit` in one transaction."""

    audit: AuditEvent
    consent: Consent | None = None
    revert_to_live: bool = False  # the hearing's kind becomes `trial`
    stage: Stage | None = None
    close_stage: tuple[str, str, datetime] | None = None  # (stage id, by, at)
    question: Question | None = None
    extensions: tuple[Extension, ...] = ()
    answer: Answer | None = None
    extra: Mapping[str, object] = field(default_factory=dict)  # anything the caller wants back


T = TypeVar("T")
Decision = Callable[[TrialSnapshot], "Change | T"]


@runtime_checkable
class AsyncTrialStore(Protocol):
    async def snapshot(self, hearing_id: str) -> TrialSnapshot:
        """NotFound if there is no such hearing."""
        ...

    async def apply(self, hearing_id: str, decide: Callable[[TrialSnapshot], Awaitable[Change | T] | Change | T],
                    ) -> tuple[Change, AuditEntry] | T:
        """Lock the hearing, read it, decide; write the decision's Change with its audit entry, or return whatever
        else the decision returned (a refusal) without writing anything."""
        ...

    async def answer_of(self, hearing_id: str, answer_id: str) -> Answer:
        """NotFound("answer", ...) unless the hearing has such an answer."""
        ...

    async def hearings_with_open_stages(self) -> list[str]:
        """Hearings that have an open stage: what the deadline sweep looks at."""
        ...
