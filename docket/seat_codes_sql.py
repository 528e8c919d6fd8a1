"""The register's short codes for join links (docket/tables_seat_codes.py): store one, find one with its link's
expiry and withdrawal. Storage only; what a code means is hearing/seat_codes.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from docket.records import RecordsError
from docket.tables import issued_tokens
from docket.tables_seat_codes import seat_codes


@dataclass(frozen=True, slots=True)
class StoredSeatCode:
    jti: str
    sealed_token: str
    room_id: str
    participant_id: str
    expires_at: datetime
    revoked_at: datetime | None


class SqlSeatCodes:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def store(self, lookup: str, jti: str, sealed_token: str, created_at: datetime) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(seat_codes).values(lookup=lookup, jti=jti, sealed_token=sealed_token,
                                                             created_at=created_at))
        except SQLAlchemyError as exc:
            raise RecordsError(f"storing a short code for link {jti!r} failed: {type(exc).__name__}") from exc

    async def find(self, lookup: str) -> StoredSeatCode | None:
        query = (select(seat_codes.c.jti, seat_codes.c.sealed_token, issued_tokens.c.room_id,
                        issued_tokens.c.participant_id, issued_tokens.c.expires_at, issued_tokens.c.revoked_at)
                 .join(issued_tokens, issued_tokens.c.jti == seat_codes.c.jti)
                 .where(seat_codes.c.lookup == lookup))
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        except SQLAlchemyError as exc:
            raise RecordsError(f"finding a short code failed: {type(exc).__name__}") from exc
        return None if row is None else StoredSeatCode(row.jti, row.sealed_token, row.room_id, row.participant_id,
                                                       row.expires_at, row.revoked_at)

