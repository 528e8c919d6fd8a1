"""The register of evidence exhibits (电子质证, electronic cross-examination of evidence): the interface.

An exhibit is a file a participant put before the court in one hearing. The file itself lives in the object
store; the register keeps what it is (type, size, page count, SHA-256, where it is stored), who uploaded it,
the opinions the parties gave on it, who viewed it, and which exhibit and page is being shown to everyone.

Nothing here is ever deleted: an exhibit can only be withdrawn (flagged), opinions and views are append-only,
and every write appends its audit entry in the same transaction, so there is never a change without its entry.
The rules (who may upload, present, give an opinion or view) are hearing/'s (`hearing.exhibits`); this module
only stores, and stores roles and stances as short strings it does not interpret. `docket.exhibits_sql`
implements it on SQLite and PostgreSQL.

The display name is what the uploader called the file (sanitised); it may be personal ("张三的借条.pdf"), so
it never goes into the audit log or an object key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from docket.audit import AuditEntry, AuditEvent
from docket.records import RecordsError


class StalePresentation(RecordsError):
    """The presentation changed since it was read (someone else presented first): read it again and decide."""

    def __init__(self, hearing_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(f"the presentation in hearing {hearing_id!r} is at version {actual_version}, "
                         f"not {expected_version}; read it again")
        self.hearing_id = hearing_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class ExhibitWithdrawn(RecordsError):
    """The exhibit was already withdrawn (a concurrent withdrawal won)."""

    def __init__(self, exhibit_id: str) -> None:
        super().__init__(f"exhibit {exhibit_id!r} is already withdrawn")
        self.exhibit_id = exhibit_id


@dataclass(frozen=True, slots=True)
class NewExhibit:
    """An exhibit whose file is already stored under `object_key`; the id is chosen first, since the key holds it."""

    id: str
    hearing_id: str
    uploaded_by: str  # a participant or staff id, never a name
    uploader_role: str
    display_name: str
    media_type: str
    size: int
    page_count: int
    sha256: str
    object_key: str


@dataclass(frozen=True, slots=True)
class Exhibit:
    id: str
    hearing_id: str
    uploaded_by: str
    uploader_role: str
    display_name: str
    media_type: str
    size: int
    page_count: int
    sha256: str
    object_key: str
    created_at: datetime
    withdrawn: bool = False
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None


@dataclass(frozen=True, slots=True)
class NewOpinion:
    """One participant's opinion (质证意见) on one exhibit; the register numbers it (revision 1, 2, ...)."""

    id: str
    exhibit_id: str
    participant_id: str
    role: str
    stance: str
    text: str


@dataclass(frozen=True, slots=True)
class Opinion:
    id: str
    exhibit_id: str
    participant_id: str
    role: str
    stance: str
    text: str
    revision: int  # 1 for the participant's first opinion on this exhibit; the highest one is in force
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewView:
    id: str
    exhibit_id: str
    viewer_id: str  # a participant or staff id
    viewer_role: str


@dataclass(frozen=True, slots=True)
class ExhibitView:
    id: str
    exhibit_id: str
    viewer_id: str
    viewer_role: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Presentation:
    """What everyone in the hearing is shown: one exhibit at one page, or nothing.

    `version` counts changes (0: nothing was ever presented). Clients apply a broadcast only if its version is
    newer than what they show, and a reconnecting client reads the stored one; writes compare-and-set on it.
    """

    hearing_id: str
    exhibit_id: str | None = None
    page: int | None = None
    version: int = 0
    changed_by: str | None = None
    changed_by_role: str | None = None
    changed_at: datetime | None = None

    @property
    def showing(self) -> bool:
        return self.exhibit_id is not None


@runtime_checkable
class ExhibitRecords(Protocol):
    """Store and read exhibits, opinions, views and the presentation. Missing records raise docket.court.NotFound.

    Every write takes the audit event to append in the same transaction and returns the entry it became.
    """

    async def add_exhibit(self, exhibit: NewExhibit, *, audit: AuditEvent) -> tuple[Exhibit, AuditEntry]:
        """NotFound if the hearing does not exist; InvalidRecord for values the register refuses."""
        ...

    async def get_exhibit(self, exhibit_id: str) -> Exhibit: ...

    async def list_exhibits(self, hearing_id: str, *, include_withdrawn: bool = True) -> list[Exhibit]:
        """In upload order."""
        ...

    async def withdraw_exhibit(
        self, exhibit_id: str, withdrawn_by: str, *, audit: AuditEvent
    ) -> tuple[Exhibit, AuditEntry]:
        """Flag the exhibit withdrawn (its file and row stay); ExhibitWithdrawn if it already was."""
        ...

    async def add_opinion(self, opinion: NewOpinion, *, audit: AuditEvent) -> tuple[Opinion, AuditEntry]:
        """Append the opinion as the participant's next revision on this exhibit (earlier ones are kept)."""
        ...

    async def list_opinions(self, exhibit_id: str, *, history: bool = False) -> list[Opinion]:
        """The opinion in force per participant (their latest), or with `history` every revision; oldest first."""
        ...

    async def record_view(self, view: NewView, *, audit: AuditEvent) -> tuple[ExhibitView, AuditEntry]: ...

    async def list_views(self, exhibit_id: str) -> list[ExhibitView]:
        """Who opened the exhibit and when, oldest first."""
        ...

    async def get_presentation(self, hearing_id: str) -> Presentation:
        """The stored presentation; version 0 and nothing shown if none was ever set."""
        ...

    async def set_presentation(
        self, presentation: Presentation, *, expected_version: int, audit: AuditEvent
    ) -> tuple[Presentation, AuditEntry]:
        """Store `presentation` (its version must be expected_version + 1) if the stored one is still at
        `expected_version`; otherwise StalePresentation. The stored row carries the register's time."""
        ...
