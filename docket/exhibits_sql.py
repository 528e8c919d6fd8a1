"""`ExhibitRecords` on SQLAlchemy Core (async), over SQLite or PostgreSQL, sharing the court register's engine.

Each write runs in one transaction with its audit entry (`docket.audit.append_in`): the exhibit, opinion, view
or presentation and its entry commit together or not at all. References are checked inside that transaction
and reported as NotFound naming the missing record, as `docket.court_sql` does. Concurrency is left to the
database where it alone can see it: an opinion's revision number is unique per (exhibit, participant), and the
presentation is compare-and-set on its version.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEntry, AuditEvent, append_in
from docket.court import InvalidRecord, NotFound
from docket.exhibits import (
    Exhibit,
    ExhibitView,
    ExhibitWithdrawn,
    NewExhibit,
    NewOpinion,
    NewView,
    Opinion,
    Presentation,
    StalePresentation,
)
from docket.records import RecordsError
from docket.sql import DEFAULT_CONNECT_TIMEOUT, display_url, make_engine
from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, hearings, participants
from docket.tables_exhibits import (
    MEDIA_TYPE_LENGTH,
    OBJECT_KEY_LENGTH,
    exhibit_opinions,
    exhibit_presentations,
    exhibit_views,
    exhibits,
)
from docket.transactions import transaction

_OPINION_ATTEMPTS = 5


class _RevisionTaken(RecordsError):
    """A concurrent opinion by the same participant took the revision number: number it again."""


def _now() -> datetime:
    return datetime.now(UTC)


def _code(what: str, value: str, limit: int) -> str:
    """Refuse on both backends what PostgreSQL would refuse and SQLite would silently keep."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRecord(f"{what} must be 1 to {limit} characters")
    return value


def _exhibit(r: Row[Any]) -> Exhibit:
    return Exhibit(r.id, r.hearing_id, r.uploaded_by, r.uploader_role, r.display_name, r.media_type, int(r.size),
                   int(r.page_count), r.sha256, r.object_key, r.created_at, bool(r.withdrawn), r.withdrawn_at,
                   r.withdrawn_by)


def _opinion(r: Row[Any]) -> Opinion:
    return Opinion(r.id, r.exhibit_id, r.participant_id, r.role, r.stance, r.text, int(r.revision), r.created_at)


def _view(r: Row[Any]) -> ExhibitView:
    return ExhibitView(r.id, r.exhibit_id, r.viewer_id, r.viewer_role, r.at)


class SqlExhibitRecords:
    """`ExhibitRecords` over SQL. Give it the court register's engine (`SqlExhibitRecords(court.engine)`), so
    exhibits, the register and the audit log share one database and one connection pool; the schema is the
    register's (migration 0006_exhibits), migrated by `open_court_records`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._url: URL = engine.url  # holds the password: only ever shown through display_url

    @classmethod
    def open(cls, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> SqlExhibitRecords:
        """With its own engine (for tools); the app shares the court register's instead."""
        return cls(make_engine(url, connect_timeout=connect_timeout))

    def __repr__(self) -> str:
        return f"SqlExhibitRecords({display_url(self._url)!r})"

    async def close(self) -> None:
        """Dispose of the engine: only for an instance made with `open()`; a shared engine is its owner's."""
        await self.engine.dispose()

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    @staticmethod
    async def _require(conn: AsyncConnection, column: Any, what: str, key: str) -> None:
        if (await conn.execute(select(column).where(column == key))).first() is None:
            raise NotFound(what, key)

    @staticmethod
    async def _read_exhibit(conn: AsyncConnection, exhibit_id: str) -> Exhibit:
        row = (await conn.execute(select(exhibits).where(exhibits.c.id == exhibit_id))).first()
        if row is None:
            raise NotFound("exhibit", exhibit_id)
        return _exhibit(row)

    # ---- exhibits --------------------------------------------------------------------------------------

    async def add_exhibit(self, exhibit: NewExhibit, *, audit: AuditEvent) -> tuple[Exhibit, AuditEntry]:
        e = exhibit
        _code("exhibit id", e.id, ID_LENGTH)
        _code("uploaded_by", e.uploaded_by, ID_LENGTH)
        _code("uploader role", e.uploader_role, CODE_LENGTH)
        _code("media type", e.media_type, MEDIA_TYPE_LENGTH)
        _code("object key", e.object_key, OBJECT_KEY_LENGTH)
        if len(e.sha256) != HASH_LENGTH or any(c not in "0123456789abcdef" for c in e.sha256):
            raise InvalidRecord("sha256 must be 64 lower-case hex digits")
        if e.size < 1 or e.page_count < 1:
            raise InvalidRecord("an exhibit has at least one byte and one page")
        if not e.display_name.strip():
            raise InvalidRecord("an exhibit needs a display name")
        async with self._tx("adding an exhibit", write=True) as conn:
            await self._require(conn, hearings.c.id, "hearing", e.hearing_id)
            try:
                await conn.execute(exhibits.insert().values(
                    id=e.id, hearing_id=e.hearing_id, uploaded_by=e.uploaded_by, uploader_role=e.uploader_role,
                    display_name=e.display_name, media_type=e.media_type, size=e.size, page_count=e.page_count,
                    sha256=e.sha256, object_key=e.object_key, created_at=_now(), withdrawn=False,
                ))
            except IntegrityError:
                raise InvalidRecord(f"exhibit {e.id!r} or its object key is already registered") from None
            entry = await append_in(conn, audit)
            return await self._read_exhibit(conn, e.id), entry

    async def get_exhibit(self, exhibit_id: str) -> Exhibit:
        async with self._tx(f"reading exhibit {exhibit_id!r}") as conn:
            return await self._read_exhibit(conn, exhibit_id)

    async def list_exhibits(self, hearing_id: str, *, include_withdrawn: bool = True) -> list[Exhibit]:
        query = select(exhibits).where(exhibits.c.hearing_id == hearing_id)
        if not include_withdrawn:
            query = query.where(exhibits.c.withdrawn.is_(False))
        async with self._tx(f"listing the exhibits of hearing {hearing_id!r}") as conn:
            await self._require(conn, hearings.c.id, "hearing", hearing_id)
            rows = await conn.execute(query.order_by(exhibits.c.created_at, exhibits.c.id))
            return [_exhibit(r) for r in rows]

    async def withdraw_exhibit(
        self, exhibit_id: str, withdrawn_by: str, *, audit: AuditEvent
    ) -> tuple[Exhibit, AuditEntry]:
        _code("withdrawn_by", withdrawn_by, ID_LENGTH)
        async with self._tx(f"withdrawing exhibit {exhibit_id!r}", write=True) as conn:
            result = await conn.execute(
                update(exhibits)
                .where(exhibits.c.id == exhibit_id, exhibits.c.withdrawn.is_(False))
                .values(withdrawn=True, withdrawn_at=_now(), withdrawn_by=withdrawn_by)
            )
            if not result.rowcount:
                await self._read_exhibit(conn, exhibit_id)  # NotFound if missing
                raise ExhibitWithdrawn(exhibit_id)
            entry = await append_in(conn, audit)
            return await self._read_exhibit(conn, exhibit_id), entry

    # ---- opinions --------------------------------------------------------------------------------------

    async def add_opinion(self, opinion: NewOpinion, *, audit: AuditEvent) -> tuple[Opinion, AuditEntry]:
        o = opinion
        _code("opinion id", o.id, ID_LENGTH)
        _code("role", o.role, CODE_LENGTH)
        _code("stance", o.stance, CODE_LENGTH)
        for _ in range(_OPINION_ATTEMPTS):
            try:
                return await self._insert_opinion(o, audit)
            except _RevisionTaken:
                continue
        raise RecordsError(f"could not record opinion {o.id!r}: the same participant kept giving opinions on "
                           f"exhibit {o.exhibit_id!r} concurrently; try again")

    async def _insert_opinion(self, o: NewOpinion, audit: AuditEvent) -> tuple[Opinion, AuditEntry]:
        async with self._tx(f"recording an opinion on exhibit {o.exhibit_id!r}", write=True) as conn:
            exhibit = await self._read_exhibit(conn, o.exhibit_id)
            who = (await conn.execute(
                select(participants.c.hearing_id).where(participants.c.id == o.participant_id))).first()
            if who is None:
                raise NotFound("participant", o.participant_id)
            if who.hearing_id != exhibit.hearing_id:
                raise InvalidRecord(f"participant {o.participant_id!r} does not take part in the hearing of "
                                    f"exhibit {o.exhibit_id!r}")
            if (await conn.execute(select(exhibit_opinions.c.id).where(exhibit_opinions.c.id == o.id))).first():
                raise InvalidRecord(f"opinion {o.id!r} is already recorded")
            last = (await conn.execute(
                select(func.max(exhibit_opinions.c.revision)).where(
                    exhibit_opinions.c.exhibit_id == o.exhibit_id,
                    exhibit_opinions.c.participant_id == o.participant_id,
                )
            )).scalar_one_or_none()
            try:
                await conn.execute(exhibit_opinions.insert().values(
                    id=o.id, exhibit_id=o.exhibit_id, participant_id=o.participant_id, role=o.role, stance=o.stance,
                    text=o.text, revision=(last or 0) + 1, created_at=_now(),
                ))
            except IntegrityError:
                raise _RevisionTaken(f"revision {(last or 0) + 1} was taken concurrently") from None
            entry = await append_in(conn, audit)
            row = (await conn.execute(select(exhibit_opinions).where(exhibit_opinions.c.id == o.id))).one()
            return _opinion(row), entry

    async def list_opinions(self, exhibit_id: str, *, history: bool = False) -> list[Opinion]:
        query = select(exhibit_opinions).where(exhibit_opinions.c.exhibit_id == exhibit_id)
        if not history:
            latest = (
                select(exhibit_opinions.c.participant_id, func.max(exhibit_opinions.c.revision).label("revision"))
                .where(exhibit_opinions.c.exhibit_id == exhibit_id)
                .group_by(exhibit_opinions.c.participant_id)
                .subquery()
            )
            query = query.join(latest, (latest.c.participant_id == exhibit_opinions.c.participant_id)
                               & (latest.c.revision == exhibit_opinions.c.revision))
        query = query.order_by(exhibit_opinions.c.created_at, exhibit_opinions.c.participant_id,
                               exhibit_opinions.c.revision)
        async with self._tx(f"listing the opinions on exhibit {exhibit_id!r}") as conn:
            await self._require(conn, exhibits.c.id, "exhibit", exhibit_id)
            return [_opinion(r) for r in await conn.execute(query)]

    # ---- views -----------------------------------------------------------------------------------------

    async def record_view(self, view: NewView, *, audit: AuditEvent) -> tuple[ExhibitView, AuditEntry]:
        _code("view id", view.id, ID_LENGTH)
        _code("viewer id", view.viewer_id, ID_LENGTH)
        _code("viewer role", view.viewer_role, CODE_LENGTH)
        at = _now()
        async with self._tx(f"recording a view of exhibit {view.exhibit_id!r}", write=True) as conn:
            await self._require(conn, exhibits.c.id, "exhibit", view.exhibit_id)
            await conn.execute(exhibit_views.insert().values(
                id=view.id, exhibit_id=view.exhibit_id, viewer_id=view.viewer_id, viewer_role=view.viewer_role, at=at,
            ))
            entry = await append_in(conn, audit)
        return ExhibitView(view.id, view.exhibit_id, view.viewer_id, view.viewer_role, at), entry

    async def list_views(self, exhibit_id: str) -> list[ExhibitView]:
        async with self._tx(f"listing the views of exhibit {exhibit_id!r}") as conn:
            await self._require(conn, exhibits.c.id, "exhibit", exhibit_id)
            rows = await conn.execute(select(exhibit_views).where(exhibit_views.c.exhibit_id == exhibit_id)
                                      .order_by(exhibit_views.c.at, exhibit_views.c.id))
            return [_view(r) for r in rows]

    # ---- the presentation ------------------------------------------------------------------------------

    @staticmethod
    async def _read_presentation(conn: AsyncConnection, hearing_id: str) -> Presentation | None:
        r = (await conn.execute(
            select(exhibit_presentations).where(exhibit_presentations.c.hearing_id == hearing_id))).first()
        if r is None:
            return None
        return Presentation(r.hearing_id, r.exhibit_id, r.page, int(r.version), r.changed_by, r.changed_by_role,
                            r.changed_at)

    async def get_presentation(self, hearing_id: str) -> Presentation:
        async with self._tx(f"reading the presentation of hearing {hearing_id!r}") as conn:
            found = await self._read_presentation(conn, hearing_id)
            if found is None:
                await self._require(conn, hearings.c.id, "hearing", hearing_id)
                return Presentation(hearing_id)
            return found

    async def set_presentation(
        self, presentation: Presentation, *, expected_version: int, audit: AuditEvent
    ) -> tuple[Presentation, AuditEntry]:
        p = presentation
        if p.version != expected_version + 1:
            raise InvalidRecord(f"a presentation following version {expected_version} must be version "
                                f"{expected_version + 1}, not {p.version}")
        if (p.exhibit_id is None) != (p.page is None) or (p.page is not None and p.page < 1):
            raise InvalidRecord("a presentation shows an exhibit at a page (1 or more), or nothing at all")
        changed_by = _code("changed_by", p.changed_by or "", ID_LENGTH)
        changed_by_role = _code("changed_by_role", p.changed_by_role or "", CODE_LENGTH)
        values = {"exhibit_id": p.exhibit_id, "page": p.page, "version": p.version, "changed_by": changed_by,
                  "changed_by_role": changed_by_role, "changed_at": _now()}
        async with self._tx(f"changing the presentation of hearing {p.hearing_id!r}", write=True) as conn:
            await self._require(conn, hearings.c.id, "hearing", p.hearing_id)
            if p.exhibit_id is not None:
                shown = await self._read_exhibit(conn, p.exhibit_id)
                if shown.hearing_id != p.hearing_id:
                    raise InvalidRecord(f"exhibit {p.exhibit_id!r} belongs to another hearing")
            if expected_version == 0:
                # The first presentation: of two concurrent first inserts the primary key keeps one; the other
                # inserts nothing (no error, so PostgreSQL's transaction stays usable to read the winner).
                insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                result = await conn.execute(
                    insert(exhibit_presentations).values(hearing_id=p.hearing_id, **values).on_conflict_do_nothing()
                )
                done = bool(result.rowcount)
            else:
                result = await conn.execute(
                    update(exhibit_presentations)
                    .where(exhibit_presentations.c.hearing_id == p.hearing_id,
                           exhibit_presentations.c.version == expected_version)
                    .values(**values)
                )
                done = bool(result.rowcount)
            if not done:
                current = await self._read_presentation(conn, p.hearing_id)
                raise StalePresentation(p.hearing_id, expected_version, current.version if current else 0)
            entry = await append_in(conn, audit)
            stored = await self._read_presentation(conn, p.hearing_id)
            assert stored is not None
            return stored, entry


async def open_exhibit_records(url: str, *, migrate: bool = True, **kwargs: Any) -> SqlExhibitRecords:
    """With its own engine, first upgrading the schema to head unless `migrate=False` (for tools and tests)."""
    if migrate:
        from docket.migrate import upgrade

        await upgrade(url)
    return SqlExhibitRecords.open(url, **kwargs)
