"""The records adapter: `Records` on SQLAlchemy's async engine, over SQLite (embedded) or PostgreSQL (deployed).

Both backends run the same queries; what differs (SQLite's pragmas, its naive timestamps, where its
file lives) is handled here and in `tables.UtcDateTime`, so callers never learn which one runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, event, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from docket.records import IssuedToken, RecordsError, Room, RoomNotFound
from docket.room_ids import RoomIdTaken, namespace_problem
from docket.tables import ID_LENGTH, issued_tokens, rooms

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
DEFAULT_CONNECT_TIMEOUT = 10.0


def parse_url(url: str) -> URL:
    """Parse and check a records URL; the error never repeats the URL, which may hold a password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RecordsError(
            "the records database URL is not valid; expected sqlite+aiosqlite:///path/to/file.db "
            "or postgresql+asyncpg://user@host:5432/dbname"
        ) from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise RecordsError(
            f"the records database URL uses driver {parsed.drivername!r}; use one of "
            f"{', '.join(SUPPORTED_DRIVERS)} (the adapter is async)"
        )
    return parsed


def display_url(url: str | URL) -> str:
    """The URL as safe to log or show: the password, if any, replaced by ***."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<invalid URL>"
    return parsed.render_as_string(hide_password=True)


def describe_error(exc: BaseException, url: URL) -> str:
    """A one-line reason for a driver error, with the password scrubbed even if a driver echoed it."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # The driver's own words ('database "x" does not exist'); SQLAlchemy's wrapper adds the SQL and a link.
        message = str(exc.orig)
    else:
        message = f"{type(exc).__name__}: {exc}"
    message = " ".join(message.split()) or type(exc).__name__
    if url.password:
        message = message.replace(str(url.password), "***")
    return message


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for other backends and for in-memory or `file:` URI databases."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def make_engine(
    url: str, *, foreign_keys: bool = True, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> AsyncEngine:
    """An async engine set up for this project's rules on either backend.

    SQLite: the file's directory is created, WAL lets readers work while one writer writes, the
    connect timeout doubles as the busy timeout, and foreign keys are enforced (they are off by default
    in SQLite). Migrations pass `foreign_keys=False`, since SQLite's batch mode rebuilds tables that
    others may reference. PostgreSQL: a bounded connect timeout (so /readyz answers rather than hangs)
    and pre-ping, so connections dropped by a database restart are replaced rather than failing once.
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": connect_timeout}}
    path = sqlite_file(parsed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordsError(f"cannot create the directory for {display_url(parsed)}: {exc}") from exc
    if parsed.get_backend_name() != "sqlite":
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            finally:
                cursor.close()

    return engine


def _now() -> datetime:
    return datetime.now(UTC)


def _check_id(what: str, value: str) -> None:
    # PostgreSQL would refuse an over-long value and SQLite would keep it; refuse it the same way on both.
    if not value or len(value) > ID_LENGTH:
        raise RecordsError(f"{what} must be 1 to {ID_LENGTH} characters, got {len(value)}")


def _check_aware(what: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{what} is a naive datetime; pass a timezone-aware one (UTC)")


def _room(row: Row[Any]) -> Room:
    return Room(id=row.id, title=row.title, kind=row.kind, created_at=row.created_at)


def _token(row: Row[Any]) -> IssuedToken:
    return IssuedToken(
        jti=row.jti,
        room_id=row.room_id,
        participant_id=row.participant_id,
        role=row.role,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )


_ROOM_COLUMNS = (rooms.c.id, rooms.c.title, rooms.c.kind, rooms.c.created_at)


class SqlRecords:
    """`Records` over SQLAlchemy's async engine. Build it with `open_records`, which also migrates the schema."""

    def __init__(self, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self._url = parse_url(url)
        self.engine = make_engine(url, connect_timeout=connect_timeout)

    @property
    def url(self) -> str:
        """The database URL with any password hidden: safe for logs and error messages."""
        return display_url(self._url)

    def __repr__(self) -> str:
        return f"SqlRecords({self.url!r})"

    @asynccontextmanager
    async def _begin(self, doing: str) -> AsyncIterator[AsyncConnection]:
        """One transaction; driver errors become RecordsError naming the operation and the safe URL."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except RecordsError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise RecordsError(
                f"records database {self.url} failed while {doing}: {describe_error(exc, self._url)}"
            ) from exc

    async def ping(self) -> None:
        """Run `SELECT 1`; raise RecordsError naming the (password-free) URL when the database is unreachable."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise RecordsError(
                f"cannot reach the records database at {self.url} ({describe_error(exc, self._url)}); "
                "check that it is running and that DATABASE_URL is right"
            ) from exc

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_room(self, room_id: str, title: str, kind: str) -> Room:
        """Insert the room, or return the stored one unchanged; a concurrent insert of the same id is not an error.

        RoomIdTaken if the id's prefix says another kind of room (docket.room_ids: private rooms alone use theirs).
        """
        _check_id("room id", room_id)
        if (why := namespace_problem(room_id, kind)) is not None:
            raise RoomIdTaken(room_id, why)
        async with self._begin(f"reading room {room_id!r}") as conn:
            row = (await conn.execute(select(*_ROOM_COLUMNS).where(rooms.c.id == room_id))).first()
        if row is not None:
            return _room(row)
        room = Room(id=room_id, title=title, kind=kind, created_at=_now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    rooms.insert().values(id=room.id, title=room.title, kind=room.kind, created_at=room.created_at)
                )
            return room
        except IntegrityError:
            pass  # another caller created it between our read and our insert: theirs stands
        except (SQLAlchemyError, OSError) as exc:
            raise RecordsError(
                f"records database {self.url} failed while creating room {room_id!r}: "
                f"{describe_error(exc, self._url)}"
            ) from exc
        return await self.get_room(room_id)

    async def get_room(self, room_id: str) -> Room:
        async with self._begin(f"reading room {room_id!r}") as conn:
            row = (await conn.execute(select(*_ROOM_COLUMNS).where(rooms.c.id == room_id))).first()
        if row is None:
            raise RoomNotFound(f"no room {room_id!r}")
        return _room(row)

    async def list_rooms(self) -> list[Room]:
        """All rooms, oldest first."""
        async with self._begin("listing rooms") as conn:
            result = await conn.execute(select(*_ROOM_COLUMNS).order_by(rooms.c.created_at, rooms.c.id))
            return [_room(row) for row in result]

    async def record_token(self, token: IssuedToken) -> None:
        """Store an issued token. RoomNotFound if its room does not exist; RecordsError if the jti is taken."""
        _check_id("token id (jti)", token.jti)
        _check_id("participant id", token.participant_id)
        for name in ("issued_at", "expires_at", "revoked_at"):
            _check_aware(name, getattr(token, name))
        values = {
            "jti": token.jti,
            "room_id": token.room_id,
            "participant_id": token.participant_id,
            "role": token.role,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "revoked_at": token.revoked_at,
            "revoke_reason": token.revoke_reason,
        }
        try:
            async with self._begin(f"recording token {token.jti!r}") as conn:
                exists = (await conn.execute(select(rooms.c.id).where(rooms.c.id == token.room_id))).first()
                if exists is None:
                    raise RoomNotFound(f"no room {token.room_id!r}; create the room before issuing tokens for it")
                await conn.execute(issued_tokens.insert().values(**values))
        except RecordsError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise RecordsError(f"token {token.jti!r} is already recorded; every token needs a fresh jti") from exc
            raise

    async def revoke_token(self, jti: str, reason: str) -> bool:
        """Revoke in one conditional UPDATE, so two concurrent revocations keep the first time and reason."""
        async with self._begin(f"revoking token {jti!r}") as conn:
            result = await conn.execute(
                update(issued_tokens)
                .where(issued_tokens.c.jti == jti, issued_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now(), revoke_reason=reason)
            )
            if result.rowcount:
                return True
            found = (await conn.execute(select(issued_tokens.c.jti).where(issued_tokens.c.jti == jti))).first()
            return found is not None

    async def is_revoked(self, jti: str) -> bool:
        """False for a jti never recorded: the token's signature, not this table, says whether it is genuine."""
        async with self._begin(f"checking token {jti!r}") as conn:
            row = (await conn.execute(select(issued_tokens.c.revoked_at).where(issued_tokens.c.jti == jti))).first()
        return row is not None and row.revoked_at is not None

    async def tokens_for_room(self, room_id: str) -> list[IssuedToken]:
        """The room's tokens in order of issue; RoomNotFound if the room does not exist (rather than [])."""
        async with self._begin(f"listing tokens of room {room_id!r}") as conn:
            result = await conn.execute(
                select(issued_tokens)
                .where(issued_tokens.c.room_id == room_id)
                .order_by(issued_tokens.c.issued_at, issued_tokens.c.jti)
            )
            tokens = [_token(row) for row in result]
            if not tokens:
                exists = (await conn.execute(select(rooms.c.id).where(rooms.c.id == room_id))).first()
                if exists is None:
                    raise RoomNotFound(f"no room {room_id!r}")
        return tokens


async def open_records(url: str, *, migrate: bool = True) -> SqlRecords:
    """Open the records database, first upgrading its schema to head unless `migrate=False`.

    `migrate=False` suits a deployment where migrations run as a separate step (`docket.migrate.upgrade`)
    before the new version starts.
    """
    if migrate:
        # Imported here: docket.migrate uses this module's make_engine.
        from docket.migrate import upgrade

        await upgrade(url)
    return SqlRecords(url)
