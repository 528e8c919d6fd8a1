"""One transaction on either backend, with the writer's lock taken up front where SQLite needs it.

SQLite starts a plain (deferred) transaction with a shared lock and upgrades it at the first write; a
transaction that reads first and writes later (read the chain head, then append) fails with "database is
locked" if another writer committed in between, instead of waiting. `BEGIN IMMEDIATE` takes the write lock
first, so writers queue on the busy timeout. PostgreSQL needs nothing here: its writers lock rows
(`SELECT ... FOR UPDATE`) inside the transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.records import RecordsError
from docket.sql import describe_error, display_url


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, url: URL, doing: str, *, write: bool = False
) -> AsyncIterator[AsyncConnection]:
    """Commit if the body returns, roll back if it raises; driver errors become RecordsError naming `doing`.

    `write=True` on SQLite begins with `BEGIN IMMEDIATE` (see the module docstring).
    """
    try:
        async with engine.connect() as conn:
            if write and conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            await conn.commit()
    except RecordsError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise RecordsError(
            f"records database {display_url(url)} failed while {doing}: {describe_error(exc, url)}"
        ) from exc
