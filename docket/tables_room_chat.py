"""Tables of migration 0024_room_chat: the hearing room's chat (issue 15), on the record; same metadata.

Append-only: one row per message, numbered per hearing (`seq` 1, 2, ...). A private room's chat is never stored.
At the close (闭庭) the messages are copied into the transcript (笔录) as its chat section, so signatures bind them.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from docket.tables import CODE_LENGTH, ID_LENGTH, UtcDateTime, metadata

room_chat = Table(
    "room_chat",
    metadata,
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),
    Column("role", String(CODE_LENGTH), nullable=False),
    Column("name", String(200), nullable=False),  # the display name as the room saw it
    Column("text", Text, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
)
