"""The audit log: append-only and hash-chained, so an edited, removed or inserted entry is found by `verify()`.

Each entry holds `seq` (1, 2, 3, ... without gaps), the time, the actor (id and role), an action, a subject
and details, the previous entry's hash and its own hash: SHA-256 over the canonical JSON of all of these
(keys sorted, no spaces, UTF-8; details hold only strings, integers, booleans, null, lists and objects, so
the form is the same in any language — it coincides with RFC 8785 for these types). Details carry ids and
codes, never names or document numbers: the log is kept forever and read by auditors.

Appends are serialised so two appenders never fork the chain: PostgreSQL locks the one-row chain head
(`audit_head`, `SELECT ... FOR UPDATE`), SQLite takes its single writer lock first (`BEGIN IMMEDIATE`).
The head also records the last seq and hash, so deleting the newest entries is detected, not only gaps.
A chain only proves the log was not changed *without also rewriting everything after the change*: an
operator who wants that too publishes the head hash elsewhere from time to time (not built here).

The chain logic (canonical form, hashing, checking) is pure; `SqlAuditLog` is the thin SQL shell.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.records import RecordsError
from docket.sql import make_engine, parse_url
from docket.tables import CODE_LENGTH, ID_LENGTH, audit_head, audit_log
from docket.transactions import transaction

GENESIS_HASH = "0" * 64
"""The `prev_hash` of entry 1."""
MAX_DETAILS_BYTES = 4096
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
PERSONAL_KEYS = frozenset({
    "name", "full_name", "id_document", "id_number", "id_card", "birth_date", "birthday", "phone", "address",
    "email",
})
"""Detail keys refused outright: the log refers to people by id only."""

JsonValue = str | int | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


# ---- the pure core --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, as the caller states it; the log adds seq, time and hashes."""

    actor_id: str
    actor_role: str
    action: str  # dotted, e.g. "procedure.transition"
    subject: str  # what it happened to, e.g. "hearing:4f2c…"
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    subject: str
    details: dict[str, JsonValue]
    prev_hash: str
    hash: str


class BreakReason(StrEnum):
    GAP = "gap"  # an entry is missing (deleted), in the middle or at the end
    HASH_MISMATCH = "hash_mismatch"  # the entry's content no longer matches its hash (edited)
    PREV_MISMATCH = "prev_mismatch"  # the entry does not point at its predecessor's hash
    HEAD_MISMATCH = "head_mismatch"  # the last entry is not the one the chain head recorded


@dataclass(frozen=True, slots=True)
class AuditBreak:
    """The first broken link: the entry's seq, why, and a sentence for the person running the check."""

    seq: int
    reason: BreakReason
    detail: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int  # entries checked
    broken: AuditBreak | None


def _check_json(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise ValueError(f"audit detail key {path}.{key!r} must be lower_snake_case ASCII")
            if key in PERSONAL_KEYS:
                raise ValueError(f"audit details must not hold personal data ({path}.{key}); refer to people by id")
            _check_json(item, f"{path}.{key}")
        return
    # Floats are refused: their text form differs between languages, which would break re-verification.
    raise ValueError(f"audit detail {path} is a {type(value).__name__}; use str, int, bool, None, list or dict")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_details(details: Mapping[str, Any]) -> str:
    """Validate `details` and return their canonical JSON; ValueError says what is not allowed."""
    _check_json(dict(details), "details")
    text = canonical_json(dict(details))
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise ValueError(f"audit details are over {MAX_DETAILS_BYTES} bytes; keep ids and codes, not documents")
    return text


def _stamp(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *, seq: int, at: datetime, actor_id: str, actor_role: str, action: str, subject: str,
    details: Mapping[str, Any], prev_hash: str,
) -> str:
    """SHA-256 hex over the canonical JSON of the entry including `prev_hash`."""
    body = {
        "seq": seq, "at": _stamp(at), "actor_id": actor_id, "actor_role": actor_role, "action": action,
        "subject": subject, "details": dict(details), "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _check_event(event: AuditEvent) -> None:
    for name, limit in (("actor_id", ID_LENGTH), ("actor_role", CODE_LENGTH), ("action", ID_LENGTH)):
        value = getattr(event, name)
        if not value or len(value) > limit:
            raise ValueError(f"audit {name} must be 1 to {limit} characters")
    if not event.subject:
        raise ValueError("audit subject must not be empty")


def seal(event: AuditEvent, *, seq: int, at: datetime, prev_hash: str) -> AuditEntry:
    """The entry `event` becomes when appended after an entry whose hash is `prev_hash`."""
    _check_event(event)
    details = json.loads(canonical_details(event.details))  # a plain copy, tuples become lists as stored
    digest = entry_hash(
        seq=seq, at=at, actor_id=event.actor_id, actor_role=event.actor_role, action=event.action,
        subject=event.subject, details=details, prev_hash=prev_hash,
    )
    return AuditEntry(seq, at.astimezone(UTC), event.actor_id, event.actor_role, event.action, event.subject,
                      details, prev_hash, digest)


class ChainChecker:
    """Feed entries in seq order; the first break is kept and later entries ignored. No I/O."""

    def __init__(self) -> None:
        self.checked = 0
        self.last_seq = 0
        self.last_hash = GENESIS_HASH
        self.broken: AuditBreak | None = None

    def feed(self, seq: int, at: datetime, actor_id: str, actor_role: str, action: str, subject: str,
             details_json: str, prev_hash: str, stored_hash: str) -> AuditBreak | None:
        """Check one stored entry (details as stored text) against its predecessor."""
        if self.broken is not None:
            return self.broken
        expected = self.last_seq + 1
        if seq != expected:
            self.broken = AuditBreak(expected, BreakReason.GAP,
                                     f"entry {expected} is missing: the entry after {self.last_seq} is {seq}")
            return self.broken
        try:
            details = json.loads(details_json)
            if not isinstance(details, dict):
                raise ValueError("not an object")
            recomputed = entry_hash(seq=seq, at=at, actor_id=actor_id, actor_role=actor_role, action=action,
                                    subject=subject, details=details, prev_hash=prev_hash)
        except ValueError:
            recomputed = None
        if recomputed != stored_hash:
            why = "its details are not a JSON object" if recomputed is None else "its content was changed"
            self.broken = AuditBreak(seq, BreakReason.HASH_MISMATCH, f"entry {seq} does not match its hash: {why}")
            return self.broken
        if prev_hash != self.last_hash:
            self.broken = AuditBreak(seq, BreakReason.PREV_MISMATCH,
                                     f"entry {seq} does not point at entry {self.last_seq}'s hash "
                                     f"(entry {self.last_seq} or {seq} was rewritten)")
            return self.broken
        self.checked += 1
        self.last_seq, self.last_hash = seq, stored_hash
        return None

    def finish(self, head_seq: int, head_hash: str) -> AuditBreak | None:
        """Compare the end of the chain with the head recorded at append time."""
        if self.broken is not None:
            return self.broken
        if head_seq > self.last_seq:
            self.broken = AuditBreak(self.last_seq + 1, BreakReason.GAP,
                                     f"entries {self.last_seq + 1} to {head_seq} are missing: the chain head "
                                     f"records {head_seq} entries, the log ends at {self.last_seq}")
        elif head_seq != self.last_seq or head_hash != self.last_hash:
            self.broken = AuditBreak(self.last_seq, BreakReason.HEAD_MISMATCH,
                                     f"entry {self.last_seq} is not the last entry the chain head recorded "
                                     f"(head: {head_seq})")
        return self.broken


# ---- the interface and its SQL shell --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A page of the log, newest first: entries before `before_seq` (None: from the newest) matching every filter
    given. `action` and `subject` match as prefixes ("register." every register entry, "hearing:<id>" one
    hearing); `actor_id` exactly; `since`/`until` bound the time (until exclusive)."""

    before_seq: int | None = None
    limit: int = 50
    action: str | None = None
    actor_id: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching `text` literally as a prefix (escape character '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@runtime_checkable
class AuditLog(Protocol):
    async def append(self, event: AuditEvent) -> AuditEntry: ...

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]: ...

    async def search(self, query: AuditQuery) -> list[AuditEntry]: ...

    async def check(self) -> ChainReport: ...

    async def verify(self) -> AuditBreak | None:
        """The first broken link, or None when the chain is intact."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


async def append_in(conn: AsyncConnection, event: AuditEvent, *, at: datetime | None = None) -> AuditEntry:
    """Append inside the caller's transaction (begun with `transaction(..., write=True)`), so an audited change
    and its entry commit or roll back together. Locks the chain head until that transaction ends."""
    head = (
        await conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())
    ).first()
    if head is None:
        raise RecordsError("the audit chain head row is missing: create the schema with `hearing migrate`")
    entry = seal(event, seq=head.seq + 1, at=at or _now(), prev_hash=head.hash)
    await conn.execute(audit_log.insert().values(
        seq=entry.seq, at=entry.at, actor_id=entry.actor_id, actor_role=entry.actor_role, action=entry.action,
        subject=entry.subject, details=canonical_json(entry.details), prev_hash=entry.prev_hash, hash=entry.hash,
    ))
    await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=entry.seq, hash=entry.hash))
    return entry


_BATCH = 1000


class SqlAuditLog:
    """`AuditLog` over the records database (the tables of migration 0003_court)."""

    def __init__(self, engine: AsyncEngine, url: str | URL) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url

    @classmethod
    def open(cls, url: str) -> SqlAuditLog:
        """Its own engine (for the CLI); the app shares the court records' engine instead."""
        return cls(make_engine(url), url)

    async def close(self) -> None:
        await self.engine.dispose()

    async def append(self, event: AuditEvent) -> AuditEntry:
        async with transaction(self.engine, self._url, f"appending {event.action!r} to the audit log",
                               write=True) as conn:
            return await append_in(conn, event)

    async def entries(self, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
        async with transaction(self.engine, self._url, "reading the audit log") as conn:
            rows = await conn.execute(
                select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq).limit(limit)
            )
            return [
                AuditEntry(r.seq, r.at, r.actor_id, r.actor_role, r.action, r.subject, json.loads(r.details),
                           r.prev_hash, r.hash)
                for r in rows
            ]

    async def search(self, query: AuditQuery) -> list[AuditEntry]:
        """One page of entries, newest first (see `AuditQuery`); reading never touches the chain's lock."""
        c = audit_log.c
        where = []
        if query.before_seq is not None:
            where.append(c.seq < query.before_seq)
        if query.action:
            where.append(c.action.like(_like_prefix(query.action), escape="\\"))
        if query.subject:
            where.append(c.subject.like(_like_prefix(query.subject), escape="\\"))
        if query.actor_id:
            where.append(c.actor_id == query.actor_id)
        if query.since is not None:
            where.append(c.at >= query.since)
        if query.until is not None:
            where.append(c.at < query.until)
        async with transaction(self.engine, self._url, "searching the audit log") as conn:
            rows = await conn.execute(select(audit_log).where(*where).order_by(c.seq.desc())
                                      .limit(max(1, min(query.limit, 500))))
            return [
                AuditEntry(r.seq, r.at, r.actor_id, r.actor_role, r.action, r.subject, json.loads(r.details),
                           r.prev_hash, r.hash)
                for r in rows
            ]

    async def head(self) -> tuple[int, str]:
        async with transaction(self.engine, self._url, "reading the audit chain head") as conn:
            row = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))).first()
        if row is None:
            raise RecordsError("the audit chain head row is missing: create the schema with `hearing migrate`")
        return int(row.seq), str(row.hash)

    async def count(self) -> int:
        async with transaction(self.engine, self._url, "counting audit entries") as conn:
            return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())

    async def check(self) -> ChainReport:
        """Walk the chain up to the head read first (entries appended meanwhile are left for the next run)."""
        head_seq, head_hash = await self.head()
        checker = ChainChecker()
        after = 0
        while checker.broken is None:
            async with transaction(self.engine, self._url, "verifying the audit log") as conn:
                rows = (await conn.execute(
                    select(audit_log)
                    .where(audit_log.c.seq > after, audit_log.c.seq <= head_seq)
                    .order_by(audit_log.c.seq)
                    .limit(_BATCH)
                )).all()
            for r in rows:
                if checker.feed(r.seq, r.at, r.actor_id, r.actor_role, r.action, r.subject, r.details,
                                r.prev_hash, r.hash):
                    break
            if len(rows) < _BATCH:
                break
            after = rows[-1].seq
        checker.finish(head_seq, head_hash)
        return ChainReport(checker.checked, checker.broken)

    async def verify(self) -> AuditBreak | None:
        return (await self.check()).broken
