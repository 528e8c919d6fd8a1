"""Court staff accounts and their login sessions: the records and the `StaffStore` interface.

Staff are the court's own people who log in to the staff API (admins, judges, clerks, mediators); everyone else
joins hearings with one-time links and never has an account. An account may point at the register's person
(`person_id`), which is how the court rules know that the judge logged in is the one on a hearing's panel.

The store keeps passwords only as hashes made by the caller (hearing.staff_auth, argon2) and sessions only as the
SHA-256 of the token the client holds. The lockout arithmetic is pure (`after_failed_login`); the store applies
it inside one write transaction so concurrent wrong passwords all count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from docket.court import InvalidRecord
from docket.records import RecordsError

USERNAME_PATTERN = re.compile(r"[\w.@-]{1,64}")
"""Letters (any script), digits, '.', '_', '@' and '-', after normalisation; no spaces."""


class StaffRole(StrEnum):
    """What a staff account may do in the staff API (hearing.staff_auth maps roles to permissions)."""

    ADMIN = "admin"  # manages accounts and the register; not a judicial officer
    PRESIDING_JUDGE = "presiding_judge"  # 审判长: a judge who may preside
    JUDGE = "judge"  # 审判员
    CLERK = "clerk"  # 书记员: keeps the register, issues links
    MEDIATOR = "mediator"  # 调解员
    STATION_OPERATOR = "station_operator"  # 工作站管理员: helps people at a service station (stations/)


class DuplicateUsername(RecordsError):
    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken (usernames are case-insensitive); choose another")
        self.username = username


class StaffNotFound(RecordsError):
    def __init__(self, staff_id: str) -> None:
        super().__init__(f"no staff account {staff_id!r}")
        self.staff_id = staff_id


def normalise_username(username: str) -> str:
    """The stored, compared form: NFKC, case-folded, trimmed. InvalidRecord if it is not a usable name."""
    key = unicodedata.normalize("NFKC", username).strip().casefold()
    if not USERNAME_PATTERN.fullmatch(key):
        raise InvalidRecord("a username is 1 to 64 letters, digits, '.', '_', '@' or '-', without spaces")
    return key


def parse_roles(roles: Iterable[str | StaffRole]) -> frozenset[StaffRole]:
    """Staff roles from codes; InvalidRecord naming the unknown ones and the valid choices."""
    codes = [str(r).strip() for r in roles if str(r).strip()]
    unknown = sorted({c for c in codes if c not in StaffRole._value2member_map_})
    if unknown:
        raise InvalidRecord(f"unknown staff role(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(r.value for r in StaffRole)}")
    if not codes:
        raise InvalidRecord(f"give at least one staff role: {', '.join(r.value for r in StaffRole)}")
    return frozenset(StaffRole(c) for c in codes)


@dataclass(frozen=True, slots=True)
class NewStaff:
    username: str
    display_name: str
    roles: frozenset[StaffRole]
    password_hash: str = field(repr=False)
    person_id: str | None = None


@dataclass(frozen=True, slots=True)
class StaffAccount:
    id: str
    username: str  # normalised
    display_name: str
    person_id: str | None
    roles: frozenset[StaffRole]
    password_hash: str = field(repr=False)
    failed_attempts: int = 0
    locked_until: datetime | None = None
    disabled: bool = False
    created_at: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True, slots=True)
class StaffSession:
    token_hash: str  # SHA-256 hex of the token the client holds
    staff_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def after_failed_login(failed_attempts: int, now: datetime, *, limit: int,
                       lock_for: timedelta) -> tuple[int, datetime | None]:
    """(new counter, locked_until) after one more wrong password: the `limit`-th locks and restarts the count."""
    count = failed_attempts + 1
    if count >= limit:
        return 0, now + lock_for
    return count, None


@runtime_checkable
class StaffStore(Protocol):
    """Staff accounts and sessions. Missing accounts raise StaffNotFound, bad values InvalidRecord."""

    async def close(self) -> None: ...

    async def create_staff(self, staff: NewStaff) -> StaffAccount:
        """DuplicateUsername if taken; NotFound if `person_id` names no person; InvalidRecord if that person
        already has an account."""
        ...

    async def get_staff(self, staff_id: str) -> StaffAccount: ...

    async def find_staff(self, username: str) -> StaffAccount | None:
        """By username, case-insensitively; None if there is no such account (or the name is not valid)."""
        ...

    async def list_staff(self) -> list[StaffAccount]:
        """Ordered by username."""
        ...

    async def set_password_hash(self, staff_id: str, password_hash: str) -> None: ...

    async def set_disabled(self, staff_id: str, disabled: bool) -> StaffAccount: ...

    async def record_failed_login(self, staff_id: str, now: datetime, *, limit: int,
                                  lock_for: timedelta) -> StaffAccount:
        """Count one wrong password atomically (see `after_failed_login`); returns the account as updated."""
        ...

    async def record_successful_login(self, staff_id: str) -> StaffAccount:
        """Reset the failure counter and any lock."""
        ...

    async def create_session(self, session: StaffSession) -> None: ...

    async def get_session(self, token_hash: str) -> StaffSession | None: ...

    async def revoke_session(self, token_hash: str, at: datetime) -> bool:
        """False if there is no such session; revoking twice keeps the first time."""
        ...

    async def revoke_sessions_of(self, staff_id: str, at: datetime) -> int:
        """Revoke every live session of the account (disabled, password changed); the number revoked."""
        ...
