"""The hearing room's chat record (docket/tables_room_chat.py): append a message, read them back. Storage only;
who may write, and what the room is told, is hearing/room_chat.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from docket.records import RecordsError
from docket.tables_room_chat import room_chat


@dataclass(frozen=True, slots=True)
class ChatRecord:
    hearing_id: str
    seq: int
    participant_id: str
    role: str
    name: str
    text: str
    sent_at: datetime


class SqlRoomChat:
    """Over the court register's engine (SQLite or PostgreSQL). `seq` is max + 1: two writers racing for the same
    number meet the primary key, and the loser takes the next one."""

    ATTEMPTS = 8

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, hearing_id: str, participant_id: str, role: str, name: str, text: str,
                     sent_at: datetime) -> ChatRecord:
        for _ in range(self.ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    top = (await conn.execute(select(func.max(room_chat.c.seq))
                                              .where(room_chat.c.hearing_id == hearing_id))).scalar()
                    record = ChatRecord(hearing_id, (top or 0) + 1, participant_id, role, name, text, sent_at)
                    await conn.execute(insert(room_chat).values(
                        hearing_id=hearing_id, seq=record.seq, participant_id=participant_id, role=role, name=name,
                        text=text, sent_at=sent_at))
                return record
            except IntegrityError:
                continue  # another message took this number first
            except SQLAlchemyError as exc:
                raise RecordsError(f"storing a chat message failed: {type(exc).__name__}") from exc
        raise RecordsError(f"storing a chat message of hearing {hearing_id!r}: too many writers at once")

    async def list(self, hearing_id: str, *, last: int | None = None) -> list[ChatRecord]:
        """Oldest first; `last` keeps only the newest that many."""
        query = select(room_chat).where(room_chat.c.hearing_id == hearing_id).order_by(room_chat.c.seq.desc())
        if last is not None:
            query = query.limit(last)
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except SQLAlchemyError as exc:
            raise RecordsError(f"reading the chat of hearing {hearing_id!r} failed: {type(exc).__name__}") from exc
        return [ChatRecord(r.hearing_id, r.seq, r.participant_id, r.role, r.name, r.text, r.sent_at)
                for r in reversed(rows)]
