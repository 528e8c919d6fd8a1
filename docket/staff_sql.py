"""`StaffStore` on SQLAlchemy's async engine, over SQLite (embedded) or PostgreSQL (deployed).

The store can share the court register's engine (`SqlStaffStore(engine)`, as the app does) or own one
(`open_staff_store(url)`, as the CLI does). Uniqueness (usernames, one account per person) is left to the database,
which alone sees concurrent inserts; its refusal becomes DuplicateUsername / InvalidRecord.

`SqlHearingRooms` gives a hearing its signalling room id once. It belongs with `CourtRecords` (docket.court_sql);
it lives here only until the register's interface gains that method.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.court import InvalidRecord, NotFound
from docket.sql import display_url, make_engine
from docket.staff import (
    DuplicateUsername,
    NewStaff,
    StaffAccount,
    StaffNotFound,
    StaffRole,
    StaffSession,
    after_failed_login,
    normalise_username,
    parse_roles,
)
from docket.tables import ID_LENGTH, hearings, persons
from docket.tables_staff import staff_accounts, staff_sessions
from docket.transactions import transaction


def _account(r: Row[Any]) -> StaffAccount:
    roles = frozenset(StaffRole(c) for c in r.roles.split(",") if c)
    return StaffAccount(r.id, r.username, r.display_name, r.person_id, roles, r.password_hash, int(r.failed_attempts),
                        r.locked_until, bool(r.disabled), r.created_at)


def _session(r: Row[Any]) -> StaffSession:
    return StaffSession(r.token_hash, r.staff_id, r.created_at, r.expires_at, r.revoked_at)


class SqlStaffStore:
    """`StaffStore` over SQL. The schema comes from the migrations (`docket.migrate.upgrade`)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = False) -> None:
        self.engine = engine
        self._url = engine.url
        self._owns_engine = owns_engine

    def __repr__(self) -> str:
        return f"SqlStaffStore({display_url(self._url)!r})"

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    async def close(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()

    async def _read(self, conn: AsyncConnection, staff_id: str, *, lock: bool = False) -> StaffAccount:
        query = select(staff_accounts).where(staff_accounts.c.id == staff_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise StaffNotFound(staff_id)
        return _account(row)

    # ---- accounts --------------------------------------------------------------------------------------

    async def create_staff(self, staff: NewStaff) -> StaffAccount:
        username = normalise_username(staff.username)
        display_name = staff.display_name.strip()
        if not display_name:
            raise InvalidRecord("a staff account needs a display name")
        roles = parse_roles(staff.roles)
        if not staff.password_hash:
            raise InvalidRecord("a staff account needs a password hash")
        staff_id = uuid.uuid4().hex
        async with self._tx("creating a staff account", write=True) as conn:
            if staff.person_id is not None:
                found = (await conn.execute(select(persons.c.id).where(persons.c.id == staff.person_id))).first()
                if found is None:
                    raise NotFound("person", staff.person_id)
                taken = (await conn.execute(
                    select(staff_accounts.c.id).where(staff_accounts.c.person_id == staff.person_id)
                )).first()
                if taken is not None:
                    raise InvalidRecord(f"person {staff.person_id!r} already has a staff account ({taken.id})")
            try:
                await conn.execute(staff_accounts.insert().values(
                    id=staff_id, username=username, display_name=display_name, person_id=staff.person_id,
                    roles=",".join(sorted(r.value for r in roles)), password_hash=staff.password_hash,
                    failed_attempts=0, locked_until=None, disabled=False, created_at=datetime.now(UTC),
                ))
            except IntegrityError:
                # The person check above ran first, so a refusal here is the username (or a concurrent twin).
                raise DuplicateUsername(username) from None
            return await self._read(conn, staff_id)

    async def get_staff(self, staff_id: str) -> StaffAccount:
        async with self._tx(f"reading staff account {staff_id!r}") as conn:
            return await self._read(conn, staff_id)

    async def find_staff(self, username: str) -> StaffAccount | None:
        try:
            key = normalise_username(username)
        except InvalidRecord:
            return None
        async with self._tx("looking up a staff account") as conn:
            row = (await conn.execute(select(staff_accounts).where(staff_accounts.c.username == key))).first()
        return None if row is None else _account(row)

    async def list_staff(self) -> list[StaffAccount]:
        async with self._tx("listing staff accounts") as conn:
            rows = await conn.execute(select(staff_accounts).order_by(staff_accounts.c.username))
            return [_account(r) for r in rows]

    async def _update(self, staff_id: str, doing: str, **values: Any) -> StaffAccount:
        async with self._tx(f"{doing} of staff account {staff_id!r}", write=True) as conn:
            result = await conn.execute(update(staff_accounts).where(staff_accounts.c.id == staff_id).values(**values))
            if not result.rowcount:
                raise StaffNotFound(staff_id)
            return await self._read(conn, staff_id)

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        if not password_hash:
            raise InvalidRecord("a staff account needs a password hash")
        await self._update(staff_id, "changing the password", password_hash=password_hash)

    async def set_disabled(self, staff_id: str, disabled: bool) -> StaffAccount:
        return await self._update(staff_id, "enabling or disabling", disabled=disabled)

    async def record_failed_login(self, staff_id: str, now: datetime, *, limit: int,
                                  lock_for: timedelta) -> StaffAccount:
        """Read-modify-write under the row lock (PostgreSQL) or the writer lock (SQLite): no failure is lost."""
        async with self._tx(f"counting a failed login of staff account {staff_id!r}", write=True) as conn:
            account = await self._read(conn, staff_id, lock=True)
            count, locked_until = after_failed_login(account.failed_attempts, now, limit=limit, lock_for=lock_for)
            values: dict[str, Any] = {"failed_attempts": count}
            if locked_until is not None:
                values["locked_until"] = locked_until
            await conn.execute(update(staff_accounts).where(staff_accounts.c.id == staff_id).values(**values))
            return await self._read(conn, staff_id)

    async def record_successful_login(self, staff_id: str) -> StaffAccount:
        return await self._update(staff_id, "recording a login", failed_attempts=0, locked_until=None)

    # ---- sessions --------------------------------------------------------------------------------------

    async def create_session(self, session: StaffSession) -> None:
        async with self._tx("creating a login session", write=True) as conn:
            await self._read(conn, session.staff_id)
            await conn.execute(staff_sessions.insert().values(
                token_hash=session.token_hash, staff_id=session.staff_id, created_at=session.created_at,
                expires_at=session.expires_at, revoked_at=session.revoked_at,
            ))

    async def get_session(self, token_hash: str) -> StaffSession | None:
        async with self._tx("reading a login session") as conn:
            row = (await conn.execute(
                select(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
            )).first()
        return None if row is None else _session(row)

    async def revoke_session(self, token_hash: str, at: datetime) -> bool:
        async with self._tx("ending a login session", write=True) as conn:
            result = await conn.execute(
                update(staff_sessions)
                .where(staff_sessions.c.token_hash == token_hash, staff_sessions.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            if result.rowcount:
                return True
            found = (await conn.execute(
                select(staff_sessions.c.token_hash).where(staff_sessions.c.token_hash == token_hash)
            )).first()
            return found is not None

    async def revoke_sessions_of(self, staff_id: str, at: datetime) -> int:
        async with self._tx(f"ending the sessions of staff account {staff_id!r}", write=True) as conn:
            result = await conn.execute(
                update(staff_sessions)
                .where(staff_sessions.c.staff_id == staff_id, staff_sessions.c.revoked_at.is_(None),
                       staff_sessions.c.expires_at > at)
                .values(revoked_at=at)
            )
            return int(result.rowcount or 0)


class SqlHearingRooms:
    """Give a hearing its signalling room id the first time a link is issued for it (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._url = engine.url

    async def assign_room(self, hearing_id: str, room_id: str) -> str:
        """Set the hearing's room id if it has none; the room id in effect afterwards (a concurrent caller's
        wins). NotFound if there is no such hearing; InvalidRecord if `room_id` belongs to another hearing."""
        if not room_id or len(room_id) > ID_LENGTH:
            raise InvalidRecord(f"room id must be 1 to {ID_LENGTH} characters")
        async with transaction(self.engine, self._url, f"assigning a room to hearing {hearing_id!r}",
                               write=True) as conn:
            try:
                await conn.execute(update(hearings).where(hearings.c.id == hearing_id, hearings.c.room_id.is_(None))
                                   .values(room_id=room_id))
            except IntegrityError:
                raise InvalidRecord(f"room {room_id!r} already belongs to another hearing") from None
            row = (await conn.execute(select(hearings.c.room_id).where(hearings.c.id == hearing_id))).first()
            if row is None:
                raise NotFound("hearing", hearing_id)
            return str(row.room_id)


def open_staff_store(url: str) -> SqlStaffStore:
    """A store with its own engine (for the CLI); migrate first with `docket.migrate.upgrade`."""
    return SqlStaffStore(make_engine(url), owns_engine=True)
