"""Alembic's environment: migrate the connection docket.migrate hands in, or (from the alembic CLI) a URL.

Programmatic use (the app, tests, deploy steps) passes a live sync connection in
`config.attributes["connection"]`, taken from an async engine via `run_sync`; this file then only runs
the migrations and leaves transactions and logging to the caller. From the command line, give the
URL with `-x url=...` (or `sqlalchemy.url`); an async engine is built here and driven the same way.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from docket.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead (no-op on PostgreSQL).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    from docket.sql import make_engine

    engine = make_engine(url, foreign_keys=False)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def _cli_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic -c docket/migrations/alembic.ini -x url=... <command>")
    return url


if context.is_offline_mode():
    context.configure(url=_cli_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    if config.config_file_name:  # only the CLI: the app keeps its own logging setup
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_from_url(_cli_url()))
