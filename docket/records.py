"""The records interface: the one door to the SQL database (SQLite embedded, PostgreSQL deployed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


class RecordsError(Exception):
    """The database failed or refused; the message says what to do."""


class RoomNotFound(RecordsError):
    pass


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    title: str
    kind: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A join token as issued: enough to list and revoke it later, never the token text itself."""

    jti: str
    room_id: str
    participant_id: str
    role: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = None


@runtime_checkable
class Records(Protocol):
    async def ping(self) -> None:
        """Raise RecordsError when the database cannot be reached (used by /readyz)."""
        ...

    async def close(self) -> None: ...

    async def create_room(self, room_id: str, title: str, kind: str) -> Room:
        """Create a room; returns the existing one unchanged if `room_id` is taken."""
        ...

    async def get_room(self, room_id: str) -> Room:
        """Raise RoomNotFound if absent."""
        ...

    async def list_rooms(self) -> list[Room]: ...

    async def record_token(self, token: IssuedToken) -> None:
        """Raise RoomNotFound if the token's room does not exist (rooms are created first, never implicitly)."""
        ...

    async def revoke_token(self, jti: str, reason: str) -> bool:
        """Mark a token revoked; False if no such token was issued. Revoking twice keeps the first time."""
        ...

    async def is_revoked(self, jti: str) -> bool: ...

    async def tokens_for_room(self, room_id: str) -> list[IssuedToken]:
        """The room's tokens in order of issue; raise RoomNotFound if the room does not exist."""
        ...
