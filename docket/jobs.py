"""The one durable scheduler: jobs live in the records database, so they survive restarts and run once across instances.

A job has a kind (which handler runs it), a JSON payload (ids and codes), a due time and an **idempotency key**,
unique in the table: scheduling the same reminder twice (a retried request, two instances reacting to one event)
leaves one job. `schedule_in(conn, ...)` schedules inside the caller's transaction, so "file the petition" and
"remind the handler before the deadline" commit or roll back together.

Running a job, on every instance's loop (`JobScheduler.start`):
1. **Claim** (one short transaction): pick due jobs — pending with `due_at <= now`, or running with an expired lease
   (its instance died) — lock them with `FOR UPDATE SKIP LOCKED` on PostgreSQL (another instance skips them instead
   of waiting; SQLite has one writer, `BEGIN IMMEDIATE`, which serialises claims), set `running`, a lease (owner,
   until) and `attempts + 1`. The attempt is counted *before* the handler runs, so a job that crashes its process
   is still parked after `max_attempts`.
2. **Run** (a second transaction): first `UPDATE jobs SET state='done' WHERE id=? AND lease_owner=me AND
   attempts=<claimed>` — that row lock is held until commit, and if it matches nothing (the lease expired and another
   instance took the job) nothing runs. Then the handler runs with the same connection: what it writes to the
   database (an inbox notification, an audit entry, a follow-up job) commits **atomically with "done"**. So database
   effects happen exactly once; effects outside the database (an SMS) happen at least once and should carry the
   job's idempotency key.
3. On an exception the run transaction rolls back (the handler's writes with it) and a third transaction records the
   error: back to `pending` with `due_at = now + backoff(attempts)`, or `parked` after `max_attempts` (kept, with its
   last error, for an administrator; `retry()` puts it back).

Handlers are registered by kind by the composition root (`register`); an instance claims only the kinds it has a
handler for, so during a rolling upgrade an old instance leaves a new kind's jobs to the instances that know it.

Why not a library: APScheduler 3.x (the stable line, 3.11) says in its user guide that "job stores must never be
shared between schedulers" — two instances on one SQLAlchemy job store may both run a job or miss it; its 4.0 line,
which coordinates schedulers through a shared data store, is a pre-release its README says not to use in production.
procrastinate and PgQueuer coordinate workers well but only on PostgreSQL (LISTEN/NOTIFY, PL/pgSQL), while the
embedded default here is SQLite; and neither can enqueue inside the SQLAlchemy transaction that makes the domain change,
which is what makes reminders consistent with the petitions they belong to. A due-time table with a lease is ~250
lines on the engine the project already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.records import RecordsError
from docket.sql import parse_url
from docket.tables_foundations import KEY_LENGTH, jobs
from docket.transactions import transaction

__all__ = [
    "Job",
    "JobHandler",
    "JobInfo",
    "JobScheduler",
    "backoff",
    "schedule_in",
]

log = logging.getLogger("docket.jobs")

DEFAULT_MAX_ATTEMPTS = 8
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Job:
    """What a handler receives. `attempt` is 1 on the first run."""

    id: str
    kind: str
    key: str
    payload: dict[str, Any]
    due_at: datetime
    attempt: int


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    kind: str
    key: str
    payload: dict[str, Any]
    state: str
    due_at: datetime
    attempts: int
    max_attempts: int
    last_error: str | None
    finished_at: datetime | None


class JobHandler(Protocol):
    """Run one job. Write to the database only through `conn` (it commits with the job's "done"); raise to retry."""

    def __call__(self, job: Job, conn: AsyncConnection) -> Awaitable[None]: ...


def backoff(attempt: int, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Delay before retry number `attempt` (1, 2, ...): 5 s, 10 s, 20 s ... capped at an hour. Deterministic."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def _now() -> datetime:
    return datetime.now(UTC)


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


async def schedule_in(conn: AsyncConnection, kind: str, key: str, payload: Mapping[str, Any], due_at: datetime, *,
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS, now: datetime | None = None) -> str:
    """Schedule a job inside the caller's transaction; returns the job's id (the existing one if `key` is taken).

    The first scheduling of a key wins: a second call with another due time or payload does not change the job
    (use `reschedule_in` to move it on purpose)."""
    if not key or len(key) > KEY_LENGTH:
        raise ValueError(f"a job's idempotency key must be 1 to {KEY_LENGTH} characters")
    if due_at.tzinfo is None:
        raise ValueError("a job's due time must be timezone-aware")
    at = now or _now()
    values = dict(id=secrets.token_hex(16), kind=kind, idempotency_key=key, payload=_canonical(payload),
                  state="pending", due_at=due_at, attempts=0, max_attempts=max_attempts, created_at=at,
                  updated_at=at)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(insert(jobs).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"]))
    row = (await conn.execute(select(jobs.c.id).where(jobs.c.idempotency_key == key))).first()
    assert row is not None
    return str(row.id)


async def reschedule_in(conn: AsyncConnection, key: str, due_at: datetime, *, now: datetime | None = None) -> bool:
    """Move a pending job to a new due time (e.g. the deadline changed); False if it is not pending."""
    result = await conn.execute(update(jobs).where(jobs.c.idempotency_key == key, jobs.c.state == "pending")
                                .values(due_at=due_at, updated_at=now or _now()))
    return bool(result.rowcount)


async def cancel_in(conn: AsyncConnection, key: str, *, now: datetime | None = None) -> bool:
    """Cancel a job that has not run (e.g. the petition was answered before its reminder); False otherwise."""
    at = now or _now()
    result = await conn.execute(update(jobs).where(jobs.c.idempotency_key == key, jobs.c.state == "pending")
                                .values(state="cancelled", updated_at=at, finished_at=at))
    return bool(result.rowcount)


def _info(r: Any) -> JobInfo:
    return JobInfo(r.id, r.kind, r.idempotency_key, json.loads(r.payload), r.state, r.due_at, r.attempts,
                   r.max_attempts, r.last_error, r.finished_at)


class JobScheduler:
    """Claims and runs due jobs on one instance; any number of instances may share the database."""

    def __init__(self, engine: AsyncEngine, url: str | URL, *, instance_id: str | None = None,
                 lease: timedelta = timedelta(minutes=5), poll_interval: float = 1.0, batch: int = 10,
                 clock: Callable[[], datetime] = _now,
                 retry_delay: Callable[[int], timedelta] = backoff) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url
        self.instance_id = instance_id or f"jobs-{secrets.token_hex(6)}"
        self.lease = lease
        self.poll_interval = poll_interval
        self.batch = batch
        self.clock = clock
        self.retry_delay = retry_delay
        self._handlers: dict[str, JobHandler] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # -- registration and scheduling -------------------------------------------------------------------

    def register(self, kind: str, handler: JobHandler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler

    async def schedule(self, kind: str, key: str, payload: Mapping[str, Any], due_at: datetime, *,
                       max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> str:
        """Schedule in a transaction of its own (see `schedule_in` to join the caller's)."""
        async with transaction(self.engine, self._url, f"scheduling job {key!r}", write=True) as conn:
            job_id = await schedule_in(conn, kind, key, payload, due_at, max_attempts=max_attempts,
                                       now=self.clock())
        self.wake()
        return job_id

    async def cancel(self, key: str) -> bool:
        async with transaction(self.engine, self._url, f"cancelling job {key!r}", write=True) as conn:
            return await cancel_in(conn, key, now=self.clock())

    async def retry(self, key: str) -> bool:
        """Put a parked job back (an administrator fixed the cause): attempts start again from 0."""
        at = self.clock()
        async with transaction(self.engine, self._url, f"retrying job {key!r}", write=True) as conn:
            result = await conn.execute(update(jobs).where(jobs.c.idempotency_key == key, jobs.c.state == "parked")
                                        .values(state="pending", attempts=0, due_at=at, updated_at=at,
                                                lease_owner=None, lease_until=None))
        self.wake()
        return bool(result.rowcount)

    async def get(self, key: str) -> JobInfo | None:
        async with transaction(self.engine, self._url, f"reading job {key!r}") as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.idempotency_key == key))).first()
        return None if row is None else _info(row)

    async def list(self, *, state: str | None = None, kind: str | None = None, limit: int = 100) -> list[JobInfo]:
        query = select(jobs).order_by(jobs.c.due_at, jobs.c.id).limit(limit)
        if state is not None:
            query = query.where(jobs.c.state == state)
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        async with transaction(self.engine, self._url, "listing jobs") as conn:
            return [_info(r) for r in await conn.execute(query)]

    # -- running ------------------------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[tuple[str, int]]:
        if not self._handlers:
            return []
        now = self.clock()
        async with transaction(self.engine, self._url, "claiming due jobs", write=True) as conn:
            due = or_(and_(jobs.c.state == "pending", jobs.c.due_at <= now),
                      and_(jobs.c.state == "running", jobs.c.lease_until < now))
            query = (select(jobs.c.id, jobs.c.attempts).where(due, jobs.c.kind.in_(sorted(self._handlers)))
                     .order_by(jobs.c.due_at).limit(limit))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            claimed = []
            for r in rows:
                result = await conn.execute(
                    update(jobs).where(jobs.c.id == r.id, jobs.c.attempts == r.attempts)
                    .values(state="running", attempts=r.attempts + 1, lease_owner=self.instance_id,
                            lease_until=now + self.lease, updated_at=now))
                if result.rowcount:
                    claimed.append((str(r.id), int(r.attempts) + 1))
        return claimed

    async def _run_one(self, job_id: str, attempt: int) -> bool:
        """Run a claimed job; True when it is done (handler returned), False when it failed or was lost."""
        try:
            async with transaction(self.engine, self._url, f"running job {job_id}", write=True) as conn:
                now = self.clock()
                taken = await conn.execute(
                    update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == self.instance_id,
                                       jobs.c.attempts == attempt, jobs.c.state == "running")
                    .values(state="done", finished_at=now, updated_at=now, lease_until=None, last_error=None))
                if not taken.rowcount:
                    log.info("job %s: lease lost before it ran; another instance has it", job_id)
                    return False
                row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()
                handler = self._handlers.get(row.kind)
                if handler is None:
                    raise _UnknownKind(row.kind)
                await handler(Job(row.id, row.kind, row.idempotency_key, json.loads(row.payload), row.due_at,
                                  attempt), conn)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(job_id, attempt, exc)
            return False

    async def _failed(self, job_id: str, attempt: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        now = self.clock()
        try:
            async with transaction(self.engine, self._url, f"recording job {job_id}'s failure", write=True) as conn:
                row = (await conn.execute(select(jobs.c.max_attempts, jobs.c.kind).where(jobs.c.id == job_id))).one()
                park = isinstance(exc, _UnknownKind) or attempt >= row.max_attempts
                await conn.execute(
                    update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == self.instance_id,
                                       jobs.c.attempts == attempt)
                    .values(state="parked" if park else "pending", last_error=error, updated_at=now,
                            lease_owner=None, lease_until=None, finished_at=now if park else None,
                            **({} if park else {"due_at": now + self.retry_delay(attempt)})))
            (log.error if park else log.warning)("job %s (%s) attempt %d failed%s: %s", job_id, row.kind, attempt,
                                                 ", parked" if park else ", will retry", error)
        except RecordsError:
            # The lease expires and another claim retries it: the attempt is already counted.
            log.exception("job %s: could not record its failure", job_id)

    async def run_due(self, limit: int | None = None) -> int:
        """Claim and run what is due now, once; returns how many jobs completed. The loop calls this."""
        done = 0
        for job_id, attempt in await self._claim(limit or self.batch):
            done += await self._run_one(job_id, attempt)
        return done

    def wake(self) -> None:
        """Look for due jobs now instead of at the next poll (after scheduling something due soon)."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                while await self.run_due() and not self._stopping:
                    pass
            except RecordsError as exc:
                log.warning("job scheduler: %s; trying again", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name=f"jobs:{self.instance_id}")

    async def stop(self) -> None:
        """Finish the job in hand, then stop; unfinished claims expire with their lease and run elsewhere."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, 30)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None


class _UnknownKind(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown_kind: no handler registered for job kind {kind!r}")
