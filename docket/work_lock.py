"""One holder at a time across instances, for work that must run once (the facts follower's passes).

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a connection of its own for as long as
the work runs. The database releases it when that connection ends, so a killed instance never leaves it held and
no lease has to be renewed or waited out. SQLite is one instance's embedded database: a lock per database file
in this process is enough (several engines on one file, as the tests open, still take turns).

Non-blocking on purpose: an instance that finds the lock held skips, since the holder is doing the same work (and
is woken again by whatever would have woken the skipper: PostgreSQL NOTIFY reaches every instance).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from docket.records import RecordsError
from docket.sql import display_url

_local: dict[tuple[str, str], asyncio.Lock] = {}


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (advisory locks are keyed by bigint)."""
    return int.from_bytes(hashlib.sha256(f"hearing:{name}".encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def exclusive(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    """Yields True while this instance holds `name`, False (at once) when another holds it."""
    if engine.dialect.name != "postgresql":
        lock = _local.setdefault((str(engine.url.database), name), asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True
        return
    key = lock_key(name)
    try:
        conn = await engine.connect()
    except (SQLAlchemyError, OSError) as exc:
        raise RecordsError(f"records database {display_url(engine.url)} failed while taking lock {name!r}: "
                           f"{type(exc).__name__}") from exc
    try:
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar_one())
        await conn.commit()  # the lock is the session's, not the transaction's: no transaction stays open
        try:
            yield got
        finally:
            if got:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()
                except (SQLAlchemyError, OSError):
                    await conn.invalidate()  # ends the session, which releases the lock
    finally:
        await conn.close()
