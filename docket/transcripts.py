"""The hearing transcript's (笔录) records and the store that keeps them: versions, signatures, confirmations.

The register keeps what was written and who signed what; the rules (who may edit when, who must sign, which
identity re-check suffices) live in hearing.transcript. Versions are append-only: a save adds version n+1 and
never changes version n, so every signature stays bound to the exact text its SHA-256 names.

Every write is a compare-and-set on the transcript's head row, inside the transaction that also appends the
audit entry: two saves from the same base cannot both win, a save cannot slip in after a signature, and a
signature cannot bind a version that stopped being the latest while it was being written.

An identity confirmation is the clerk's record that they checked a signer on video (method `staff_confirmed`):
bound to one hearing and one signer, valid until it expires, and used up by the one signature that relies on
it — the store marks it used in the signature's own transaction, so two signatures can never share one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from docket.audit import AuditEntry, AuditEvent
from docket.records import RecordsError


class ReverificationMethod(StrEnum):
    """How a signer's identity was re-checked at the moment of signing (on top of the check at admission)."""

    ID_DOCUMENT = "id_document"  # the signer re-entered their ID number; it matched the register
    STAFF_CONFIRMED = "staff_confirmed"  # the clerk recorded a confirmation on video; `confirmed_by` names the clerk
    NONE = "none"  # no re-check: allowed only where the hearing does not require one for the signer's role


# ---- records --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TranscriptVersion:
    hearing_id: str
    number: int  # 1, 2, 3, ... per hearing
    text: str
    sha256: str  # hex SHA-256 of text.encode("utf-8")
    author_id: str
    author_role: str
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """A version without its text: the history list stays small however long the transcript grows."""

    hearing_id: str
    number: int
    sha256: str
    author_id: str
    author_role: str
    saved_at: datetime
    length: int  # characters


@dataclass(frozen=True, slots=True)
class Signature:
    hearing_id: str
    participant_id: str
    role: str
    version: int
    sha256: str  # the signed version's hash
    signed_at: datetime
    method: ReverificationMethod
    confirmed_by: str | None = None  # the confirming clerk's participant id (staff_confirmed only)


@dataclass(frozen=True, slots=True)
class IdentityConfirmation:
    """A clerk's record that they checked `participant_id`'s identity on video for signing this hearing's transcript.

    It is what a `staff_confirmed` signature relies on: the clerk must have acted (with their own link), not
    merely been named by the signer. Good for one signature until `expires_at`; `used_at` is set by that signature.
    """

    id: str
    hearing_id: str
    participant_id: str  # the signer
    confirmed_by: str  # the confirming clerk's participant id
    confirmed_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable_at(self, at: datetime) -> bool:
        """Unused, and `at` within [confirmed_at, expires_at)."""
        return self.used_at is None and self.confirmed_at <= at < self.expires_at


@dataclass(frozen=True, slots=True)
class TranscriptSnapshot:
    """Everything a decision needs, read in one transaction so the parts agree."""

    hearing_id: str
    latest: TranscriptVersion | None
    signatures: tuple[Signature, ...]
    reverify_roles: frozenset[str] | None  # None = the court's default
    confirmations: tuple[IdentityConfirmation, ...] = ()  # the unused ones, oldest first (expired ones included)

    @property
    def latest_number(self) -> int:
        return self.latest.number if self.latest is not None else 0

    @property
    def frozen(self) -> bool:
        return bool(self.signatures)


# ---- errors (the service turns them into typed refusals) ------------------------------------------------


class VersionConflict(RecordsError):
    """The latest version was not `expected`: another save or signature came first. Re-read and decide again."""

    def __init__(self, hearing_id: str, expected: int, actual: int) -> None:
        super().__init__(f"the transcript of hearing {hearing_id!r} is at version {actual}, not {expected}")
        self.hearing_id = hearing_id
        self.expected = expected
        self.actual = actual


class TranscriptFrozen(RecordsError):
    """Someone has signed: the text and the re-verification setting can no longer change."""

    def __init__(self, hearing_id: str) -> None:
        super().__init__(f"the transcript of hearing {hearing_id!r} has been signed and can no longer change")
        self.hearing_id = hearing_id


class DuplicateSignature(RecordsError):
    def __init__(self, hearing_id: str, participant_id: str) -> None:
        super().__init__(f"participant {participant_id!r} has already signed the transcript of {hearing_id!r}")
        self.hearing_id = hearing_id
        self.participant_id = participant_id


class ConfirmationUnavailable(RecordsError):
    """The identity confirmation a signature relied on is used, expired or not the signer's: decide again."""

    def __init__(self, confirmation_id: str) -> None:
        super().__init__(f"identity confirmation {confirmation_id!r} is used, expired or not for this signer")
        self.confirmation_id = confirmation_id


# ---- the store ------------------------------------------------------------------------------------------


@runtime_checkable
class TranscriptStore(Protocol):
    """Reads and compare-and-set writes; each write appends its audit entry in the same transaction.

    Writes take `hearing_state`, the procedure state the decision was made in: if the hearing has moved on
    meanwhile they raise docket.court.StaleState and nothing is written. A missing hearing raises NotFound.
    """

    async def snapshot(self, hearing_id: str) -> TranscriptSnapshot: ...

    async def version(self, hearing_id: str, number: int) -> TranscriptVersion:
        """NotFound("transcript version", ...) if there is no such version."""
        ...

    async def versions(self, hearing_id: str) -> list[VersionSummary]:
        """Oldest first."""
        ...

    async def append_version(
        self, version: TranscriptVersion, *, hearing_state: str, audit: AuditEvent
    ) -> AuditEntry:
        """Store `version` if the latest is `version.number - 1` and nobody has signed.

        VersionConflict if the latest moved, TranscriptFrozen if a signature exists.
        """
        ...

    async def add_signature(self, signature: Signature, *, hearing_state: str, audit: AuditEvent,
                            confirmation_id: str | None = None) -> AuditEntry:
        """Store `signature` if `signature.version` is still the latest (VersionConflict otherwise).

        DuplicateSignature if the participant has signed already. A `staff_confirmed` signature names the identity
        confirmation it relies on (`confirmation_id`, by `signature.confirmed_by`, for this signer): it is marked
        used in the same transaction, and ConfirmationUnavailable is raised if it is used or expired by
        `signature.signed_at` (nothing is written then).
        """
        ...

    async def add_confirmation(self, confirmation: IdentityConfirmation, *, hearing_state: str,
                               audit: AuditEvent) -> AuditEntry:
        """Record a clerk's identity confirmation (unused) with its audit entry."""
        ...

    async def set_reverify_roles(
        self, hearing_id: str, roles: Iterable[str] | None, *, hearing_state: str, audit: AuditEvent
    ) -> AuditEntry:
        """Set which roles must re-verify before signing (None = the court's default); TranscriptFrozen once signed."""
        ...
