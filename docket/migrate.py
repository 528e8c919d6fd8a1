"""Schema migrations, driven from code: Alembic with the scripts packaged in docket/migrations/.

No alembic.ini is needed at the repository root: the Config is built here, and the connection is
handed to env.py (`config.attributes["connection"]`), so the app, the tests and a deploy step all
migrate exactly the database they name. Developers generating a new revision can use
`alembic -c docket/migrations/alembic.ini -x url=... revision --autogenerate -m "..."`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from docket.records import RecordsError
from docket.sql import describe_error, display_url, make_engine, parse_url, sqlite_file

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

Progress = Callable[[str], None]
_PG_LOCK_KEY = 0x4845_4152  # "HEAR": the advisory lock id held while migrating


def alembic_config() -> Config:
    """An Alembic Config pointing at the packaged scripts, without reading any ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision the code knows; a database at this revision matches docket.tables."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its versions
        raise RecordsError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def _upgrade_sync(connection: Connection, config: Config, revision: str, progress: Progress | None) -> None:
    """Apply pending revisions one at a time, each in its own transaction, reporting each before it runs.

    Stepping one revision per `command.upgrade` lets progress say what is running now (a long
    migration is not mistaken for a hang), and keeps every finished step if a later one fails.
    """
    config.attributes["connection"] = connection
    script = ScriptDirectory.from_config(config)
    postgres = connection.dialect.name == "postgresql"
    if postgres:  # several app instances may start at once: one migrates, the others wait and find it done
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
        connection.commit()
    try:
        current = MigrationContext.configure(connection).get_current_revision()
        connection.commit()  # end the read's implicit transaction; each step below opens its own
        plan = list(reversed(list(script.iterate_revisions(revision, current))))
        for step in plan:
            if progress is not None:
                progress(f"applying {step.revision}: {step.doc}")
            with connection.begin():
                command.upgrade(config, step.revision)
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """SQLite has no advisory locks: serialise migrating processes with a lock file beside the database."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate-lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


async def upgrade(url: str, revision: str = "head", progress: Progress | None = None) -> None:
    """Upgrade the database at `url` to `revision` (default: head); `progress` gets one line per migration."""
    parsed = parse_url(url)
    config = alembic_config()
    try:  # before connecting, so a typo does not leave an empty SQLite file behind
        ScriptDirectory.from_config(config).get_revisions(revision)
    except (CommandError, RevisionError) as exc:
        raise RecordsError(f"cannot upgrade {display_url(parsed)} to {revision!r}: {exc}") from exc
    engine = make_engine(url, foreign_keys=False)  # SQLite batch mode rebuilds referenced tables
    lock = await asyncio.to_thread(_enter_lock, sqlite_file(parsed))
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_upgrade_sync, config, revision, progress)
    except (CommandError, RevisionError) as exc:
        raise RecordsError(f"cannot upgrade {display_url(parsed)} to {revision!r}: {exc}") from exc
    except (SQLAlchemyError, OSError) as exc:
        raise RecordsError(
            f"migrating the records database {display_url(parsed)} to {revision!r} failed: "
            f"{describe_error(exc, parsed)}"
        ) from exc
    finally:
        lock.close()
        await engine.dispose()


def _enter_lock(path: Path | None) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(_file_lock(path))
    return stack


async def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None for an empty (never migrated) database.

    A SQLite file that does not exist yet is reported as None without being created.
    """
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if path is not None and not await asyncio.to_thread(path.exists):
        return None
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    except (SQLAlchemyError, OSError) as exc:
        raise RecordsError(
            f"cannot read the schema revision of {display_url(parsed)}: {describe_error(exc, parsed)}"
        ) from exc
    finally:
        await engine.dispose()
