"""`TranscriptStore` on SQLAlchemy's async engine, over SQLite or PostgreSQL, sharing the court register's engine.

The compare-and-set target is the one head row per hearing (`transcripts`): a save moves `latest_version` from
n to n+1 only while `signature_count` is 0; a signature bumps `signature_count` only while `latest_version` is
the version it binds. On PostgreSQL concurrent writers queue on that row's lock and the loser's WHERE no longer
matches; on SQLite `BEGIN IMMEDIATE` serialises writers outright. The hearing's row is read FOR SHARE in the
same transaction, so a procedure change (set_hearing_state updates that row) cannot interleave with a write
decided in the old state. Lock order everywhere: hearing, transcript head, audit chain head.

An identity confirmation is used up with a conditional UPDATE (unused, unexpired, this signer and clerk) in the
signature's transaction: of two signatures relying on it, only one finds it unused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEntry, AuditEvent, append_in
from docket.court import InvalidRecord, NotFound, StaleState
from docket.sql import parse_url
from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, hearings, participants
from docket.tables_transcripts import (
    transcript_confirmations,
    transcript_signatures,
    transcript_versions,
    transcripts,
)
from docket.transactions import transaction
from docket.transcripts import (
    ConfirmationUnavailable,
    DuplicateSignature,
    IdentityConfirmation,
    ReverificationMethod,
    Signature,
    TranscriptFrozen,
    TranscriptSnapshot,
    TranscriptVersion,
    VersionConflict,
    VersionSummary,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _short(what: str, value: str, limit: int) -> str:
    if not value or len(value) > limit:
        raise InvalidRecord(f"{what} must be 1 to {limit} characters")
    return value


def _aware(what: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecord(f"{what} is a naive datetime; pass a timezone-aware one (UTC)")
    return value


def _version(r: Row[Any]) -> TranscriptVersion:
    return TranscriptVersion(r.hearing_id, r.number, r.text, r.sha256, r.author_id, r.author_role, r.saved_at)


def _signature(r: Row[Any]) -> Signature:
    return Signature(r.hearing_id, r.participant_id, r.role, r.version, r.sha256, r.signed_at,
                     ReverificationMethod(r.method), r.confirmed_by)


def _confirmation(r: Row[Any]) -> IdentityConfirmation:
    return IdentityConfirmation(r.id, r.hearing_id, r.participant_id, r.confirmed_by, r.confirmed_at, r.expires_at,
                                r.used_at)


class SqlTranscriptStore:
    """`TranscriptStore` over SQL; the tables of migrations 0005_transcripts and 0011_transcript_confirmations.

    Build it on the court register's engine (`SqlTranscriptStore(court.engine, court.url)`) so the audit
    entries land in the same database and chain as everything else.
    """

    def __init__(self, engine: AsyncEngine, url: str | URL) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    # ---- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    async def _require_hearing(conn: AsyncConnection, hearing_id: str) -> None:
        if (await conn.execute(select(hearings.c.id).where(hearings.c.id == hearing_id))).first() is None:
            raise NotFound("hearing", hearing_id)

    @staticmethod
    async def _check_state(conn: AsyncConnection, hearing_id: str, expected: str) -> None:
        """Hold the hearing's row (FOR SHARE) until commit, and refuse if its state is not the one decided on."""
        row = (await conn.execute(
            select(hearings.c.state).where(hearings.c.id == hearing_id).with_for_update(read=True)
        )).first()
        if row is None:
            raise NotFound("hearing", hearing_id)
        if row.state != expected:
            raise StaleState(hearing_id, expected, row.state)

    @staticmethod
    async def _ensure_head(conn: AsyncConnection, hearing_id: str) -> None:
        """Create the head row at version 0 unless it exists; concurrent creators do not collide."""
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        await conn.execute(
            insert(transcripts)
            .values(hearing_id=hearing_id, latest_version=0, signature_count=0, reverify_roles=None,
                    updated_at=_now())
            .on_conflict_do_nothing(index_elements=["hearing_id"])
        )

    @staticmethod
    async def _head(conn: AsyncConnection, hearing_id: str) -> Row[Any] | None:
        return (await conn.execute(select(transcripts).where(transcripts.c.hearing_id == hearing_id))).first()

    # ---- reads -----------------------------------------------------------------------------------------

    async def snapshot(self, hearing_id: str) -> TranscriptSnapshot:
        async with self._tx(f"reading the transcript of hearing {hearing_id!r}") as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the three reads below, so the latest version and the signatures agree.
                await conn.execution_options(isolation_level="REPEATABLE READ")
            await self._require_hearing(conn, hearing_id)
            c = transcript_confirmations.c
            confirmations = tuple(_confirmation(r) for r in await conn.execute(
                select(transcript_confirmations)
                .where(c.hearing_id == hearing_id, c.used_at.is_(None))
                .order_by(c.confirmed_at, c.id)
            ))
            head = await self._head(conn, hearing_id)
            if head is None:
                return TranscriptSnapshot(hearing_id, None, (), None, confirmations)
            latest = None
            if head.latest_version:
                row = (await conn.execute(select(transcript_versions).where(
                    transcript_versions.c.hearing_id == hearing_id,
                    transcript_versions.c.number == head.latest_version,
                ))).one()
                latest = _version(row)
            rows = await conn.execute(
                select(transcript_signatures)
                .where(transcript_signatures.c.hearing_id == hearing_id)
                .order_by(transcript_signatures.c.signed_at, transcript_signatures.c.participant_id)
            )
            roles = None if head.reverify_roles is None else frozenset(json.loads(head.reverify_roles))
            return TranscriptSnapshot(hearing_id, latest, tuple(_signature(r) for r in rows), roles, confirmations)

    async def version(self, hearing_id: str, number: int) -> TranscriptVersion:
        async with self._tx(f"reading version {number} of the transcript of hearing {hearing_id!r}") as conn:
            row = (await conn.execute(select(transcript_versions).where(
                transcript_versions.c.hearing_id == hearing_id, transcript_versions.c.number == number,
            ))).first()
            if row is None:
                await self._require_hearing(conn, hearing_id)
                raise NotFound("transcript version", f"{hearing_id}#{number}")
            return _version(row)

    async def versions(self, hearing_id: str) -> list[VersionSummary]:
        v = transcript_versions.c
        async with self._tx(f"listing the transcript versions of hearing {hearing_id!r}") as conn:
            await self._require_hearing(conn, hearing_id)
            rows = await conn.execute(
                select(v.hearing_id, v.number, v.sha256, v.author_id, v.author_role, v.saved_at,
                       func.length(v.text).label("length"))
                .where(v.hearing_id == hearing_id)
                .order_by(v.number)
            )
            return [VersionSummary(r.hearing_id, r.number, r.sha256, r.author_id, r.author_role, r.saved_at,
                                   int(r.length)) for r in rows]

    # ---- writes ----------------------------------------------------------------------------------------

    async def append_version(
        self, version: TranscriptVersion, *, hearing_state: str, audit: AuditEvent
    ) -> AuditEntry:
        if version.number < 1:
            raise InvalidRecord("transcript versions are numbered from 1")
        if "\x00" in version.text:
            raise InvalidRecord("the transcript text contains a NUL character, which the database cannot store")
        if hashlib.sha256(version.text.encode("utf-8")).hexdigest() != version.sha256:
            raise InvalidRecord(f"the SHA-256 given for version {version.number} is not the hash of its text")
        _short("author id", version.author_id, ID_LENGTH)
        _short("author role", version.author_role, CODE_LENGTH)
        _aware("saved_at", version.saved_at)
        hid = version.hearing_id
        async with self._tx(f"saving version {version.number} of the transcript of {hid!r}", write=True) as conn:
            await self._check_state(conn, hid, hearing_state)
            await self._ensure_head(conn, hid)
            moved = await conn.execute(
                update(transcripts)
                .where(transcripts.c.hearing_id == hid, transcripts.c.latest_version == version.number - 1,
                       transcripts.c.signature_count == 0)
                .values(latest_version=version.number, updated_at=version.saved_at)
            )
            if not moved.rowcount:
                head = await self._head(conn, hid)
                assert head is not None  # ensured above, in this transaction
                if head.signature_count:
                    raise TranscriptFrozen(hid)
                raise VersionConflict(hid, version.number - 1, head.latest_version)
            await conn.execute(transcript_versions.insert().values(
                hearing_id=hid, number=version.number, text=version.text, sha256=version.sha256,
                author_id=version.author_id, author_role=version.author_role, saved_at=version.saved_at,
            ))
            return await append_in(conn, audit)

    async def add_signature(self, signature: Signature, *, hearing_state: str, audit: AuditEvent,
                            confirmation_id: str | None = None) -> AuditEntry:
        s = signature
        method = ReverificationMethod(s.method)
        _short("signature hash", s.sha256, HASH_LENGTH)
        _short("role", s.role, CODE_LENGTH)
        _aware("signed_at", s.signed_at)
        if (method is ReverificationMethod.STAFF_CONFIRMED) != (s.confirmed_by is not None):
            raise InvalidRecord("confirmed_by is given exactly when the method is staff_confirmed")
        if (method is ReverificationMethod.STAFF_CONFIRMED) != (confirmation_id is not None):
            raise InvalidRecord("a staff_confirmed signature names the identity confirmation it relies on, "
                                "and no other signature does")
        async with self._tx(f"recording a signature on the transcript of {s.hearing_id!r}", write=True) as conn:
            await self._check_state(conn, s.hearing_id, hearing_state)
            signer = (await conn.execute(select(participants.c.hearing_id).where(
                participants.c.id == s.participant_id))).first()
            if signer is None:
                raise NotFound("participant", s.participant_id)
            if signer.hearing_id != s.hearing_id:
                raise InvalidRecord(f"participant {s.participant_id!r} takes no part in hearing {s.hearing_id!r}")
            moved = await conn.execute(
                update(transcripts)
                .where(transcripts.c.hearing_id == s.hearing_id, transcripts.c.latest_version == s.version)
                .values(signature_count=transcripts.c.signature_count + 1, updated_at=s.signed_at)
            )
            if not moved.rowcount:
                head = await self._head(conn, s.hearing_id)
                raise VersionConflict(s.hearing_id, s.version, head.latest_version if head is not None else 0)
            stored = (await conn.execute(select(transcript_versions.c.sha256).where(
                transcript_versions.c.hearing_id == s.hearing_id, transcript_versions.c.number == s.version,
            ))).one()
            if stored.sha256 != s.sha256:
                raise InvalidRecord(f"the signature's hash is not the hash of version {s.version}")
            already = (await conn.execute(select(transcript_signatures.c.version).where(
                transcript_signatures.c.hearing_id == s.hearing_id,
                transcript_signatures.c.participant_id == s.participant_id,
            ))).first()
            if already is not None:
                raise DuplicateSignature(s.hearing_id, s.participant_id)
            if confirmation_id is not None:
                c = transcript_confirmations.c
                used = await conn.execute(
                    update(transcript_confirmations)
                    .where(c.id == confirmation_id, c.hearing_id == s.hearing_id,
                           c.participant_id == s.participant_id, c.confirmed_by == s.confirmed_by,
                           c.used_at.is_(None), c.confirmed_at <= s.signed_at, c.expires_at > s.signed_at)
                    .values(used_at=s.signed_at)
                )
                if not used.rowcount:
                    raise ConfirmationUnavailable(confirmation_id)
            try:
                await conn.execute(transcript_signatures.insert().values(
                    hearing_id=s.hearing_id, participant_id=s.participant_id, role=s.role, version=s.version,
                    sha256=s.sha256, signed_at=s.signed_at, method=method.value, confirmed_by=s.confirmed_by,
                ))
            except IntegrityError:  # a concurrent signature by the same participant committed first
                raise DuplicateSignature(s.hearing_id, s.participant_id) from None
            return await append_in(conn, audit)

    async def add_confirmation(self, confirmation: IdentityConfirmation, *, hearing_state: str,
                               audit: AuditEvent) -> AuditEntry:
        k = confirmation
        for what, value in (("confirmation id", k.id), ("signer id", k.participant_id),
                            ("confirming clerk id", k.confirmed_by)):
            _short(what, value, ID_LENGTH)
        _aware("confirmed_at", k.confirmed_at)
        _aware("expires_at", k.expires_at)
        if k.expires_at <= k.confirmed_at:
            raise InvalidRecord("an identity confirmation must expire after it is given")
        if k.used_at is not None:
            raise InvalidRecord("a new identity confirmation is unused")
        async with self._tx(f"recording an identity confirmation in hearing {k.hearing_id!r}", write=True) as conn:
            await self._check_state(conn, k.hearing_id, hearing_state)
            rows = await conn.execute(select(participants.c.id, participants.c.hearing_id)
                                      .where(participants.c.id.in_([k.participant_id, k.confirmed_by])))
            found = {r.id: r.hearing_id for r in rows}
            for pid in (k.participant_id, k.confirmed_by):
                if pid not in found:
                    raise NotFound("participant", pid)
                if found[pid] != k.hearing_id:
                    raise InvalidRecord(f"participant {pid!r} takes no part in hearing {k.hearing_id!r}")
            await conn.execute(transcript_confirmations.insert().values(
                id=k.id, hearing_id=k.hearing_id, participant_id=k.participant_id, confirmed_by=k.confirmed_by,
                confirmed_at=k.confirmed_at, expires_at=k.expires_at, used_at=None,
            ))
            return await append_in(conn, audit)

    async def set_reverify_roles(
        self, hearing_id: str, roles: Iterable[str] | None, *, hearing_state: str, audit: AuditEvent
    ) -> AuditEntry:
        stored = None
        if roles is not None:
            listed = sorted({_short("role", r, CODE_LENGTH) for r in roles})
            stored = json.dumps(listed, separators=(",", ":"))
        async with self._tx(f"setting re-verification for the transcript of {hearing_id!r}", write=True) as conn:
            await self._check_state(conn, hearing_id, hearing_state)
            await self._ensure_head(conn, hearing_id)
            changed = await conn.execute(
                update(transcripts)
                .where(transcripts.c.hearing_id == hearing_id, transcripts.c.signature_count == 0)
                .values(reverify_roles=stored, updated_at=_now())
            )
            if not changed.rowcount:
                raise TranscriptFrozen(hearing_id)
            return await append_in(conn, audit)
