"""The one namespace of signalling rooms: hearings' rooms, private rooms and ad-hoc rooms never share an id.

Why: signalling joins people by room id, so a hearing created with an open caucus's room id would put whoever holds
that hearing's link into the caucus (issue 14). Private rooms' ids are made by the server (`new_private_room_id`)
under `PRIVATE_PREFIX`, which nobody else may use; a hearing's chosen room id must be new to every kind of room
(the register checks hearings, private rooms and the rooms table in the write transaction), and the rooms table
refuses an id whose prefix says another kind (`namespace_problem`, checked by `Records.create_room`).
"""

from __future__ import annotations

import secrets

from docket.records import RecordsError

PRIVATE_PREFIX = "private-"
PRIVATE_KIND = "private"


class RoomIdTaken(RecordsError, ValueError):
    """A room id already used by another room (of any kind), or reserved for private rooms."""

    code = "room_id_taken"

    def __init__(self, room_id: str, why: str) -> None:
        super().__init__(f"room id {room_id!r} {why}; choose another, or leave it out to have one assigned")
        self.room_id = room_id


def new_private_room_id() -> str:
    return f"{PRIVATE_PREFIX}{secrets.token_hex(8)}"


def namespace_problem(room_id: str, kind: str) -> str | None:
    """Why a room of `kind` may not have this id (the private prefix belongs to private rooms alone), or None."""
    if room_id.startswith(PRIVATE_PREFIX) != (kind == PRIVATE_KIND):
        return (f"is reserved for private rooms (ids starting {PRIVATE_PREFIX!r})" if kind != PRIVATE_KIND
                else f"is not a private room's id (those start {PRIVATE_PREFIX!r})")
    return None
