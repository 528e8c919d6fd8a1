"""The durable scheduler on SQLite and PostgreSQL: idempotent scheduling, once-only runs across two instances,
effects committed with "done", retries with backoff, parking, restarts and a dead instance's expired lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.jobs import Job, JobScheduler, backoff, schedule_in
from docket.migrate import upgrade
from docket.notifications import SqlInbox, notify_in
from docket.sql import make_engine
from docket.tables_foundations import jobs, notifications
from docket.transactions import transaction
from tests.conftest import until

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def engine(court_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(court_url)
    e = make_engine(court_url)
    try:
        yield e
    finally:
        await e.dispose()


async def remind(job: Job, conn: AsyncConnection) -> None:
    """A handler whose effect is a database row: one inbox entry per run (no idempotency key, so a second run would
    show as a second row)."""
    await notify_in(conn, job.payload["to"], "petition.reminder", {"petition": job.payload["petition"]},
                    subject=job.key)


async def count_notifications(engine: AsyncEngine, subject: str | None = None) -> int:
    query = select(func.count()).select_from(notifications)
    if subject is not None:
        query = query.where(notifications.c.subject == subject)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_scheduling_the_same_key_twice_is_one_job(engine: AsyncEngine, court_url: str) -> None:
    clock = Clock()
    s = JobScheduler(engine, court_url, clock=clock)
    a = await s.schedule("remind", "petition-reminder:p1:2026-12-09", {"to": "staff:j1", "petition": "p1"}, T0)
    b = await s.schedule("remind", "petition-reminder:p1:2026-12-09", {"to": "staff:j2", "petition": "p1"},
                         T0 + timedelta(hours=1))
    assert a == b
    info = await s.get("petition-reminder:p1:2026-12-09")
    assert info is not None and info.payload["to"] == "staff:j1" and info.due_at == T0  # the first one wins
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(jobs))).scalar_one() == 1


async def test_a_job_runs_when_due_and_once(engine: AsyncEngine, court_url: str) -> None:
    clock = Clock()
    s = JobScheduler(engine, court_url, clock=clock)
    s.register("remind", remind)
    await s.schedule("remind", "k1", {"to": "staff:j1", "petition": "p1"}, T0 + timedelta(minutes=5))
    assert await s.run_due() == 0  # not due yet
    clock.now = T0 + timedelta(minutes=5)
    assert await s.run_due() == 1
    assert await s.run_due() == 0
    info = await s.get("k1")
    assert info is not None and info.state == "done" and info.attempts == 1 and info.finished_at == clock.now
    inbox = await SqlInbox(engine, court_url).list("staff:j1")
    assert [(n.code, n.params) for n in inbox] == [("petition.reminder", {"petition": "p1"})]


async def test_a_failing_handler_leaves_no_effect_retries_with_backoff_and_is_parked(
        engine: AsyncEngine, court_url: str) -> None:
    clock = Clock()
    s = JobScheduler(engine, court_url, clock=clock)
    calls: list[int] = []

    async def flaky(job: Job, conn: AsyncConnection) -> None:
        calls.append(job.attempt)
        await remind(job, conn)  # written, then rolled back with the failure
        raise RuntimeError("gateway down")

    s.register("remind", flaky)
    await s.schedule("remind", "k2", {"to": "staff:j1", "petition": "p2"}, T0, max_attempts=3)
    assert await s.run_due() == 0
    info = await s.get("k2")
    assert info is not None and info.state == "pending" and info.attempts == 1
    assert info.due_at == T0 + backoff(1) and "gateway down" in (info.last_error or "")
    assert await s.run_due() == 0 and calls == [1]  # not before its backoff
    clock.now = info.due_at
    await s.run_due()
    info = await s.get("k2")
    assert info is not None and info.due_at == clock.now + backoff(2) and backoff(2) > backoff(1)
    clock.now = info.due_at
    await s.run_due()
    info = await s.get("k2")
    assert info is not None and info.state == "parked" and info.attempts == 3 and calls == [1, 2, 3]
    clock.now += timedelta(days=1)
    assert await s.run_due() == 0 and calls == [1, 2, 3]  # parked stays parked
    assert await count_notifications(engine) == 0
    # An administrator fixes the cause and retries it.
    s2 = JobScheduler(engine, court_url, clock=clock)
    s2.register("remind", remind)
    assert await s2.retry("k2")
    assert await s2.run_due() == 1 and await count_notifications(engine) == 1


async def test_an_instance_leaves_kinds_it_has_no_handler_for(engine: AsyncEngine, court_url: str) -> None:
    old = JobScheduler(engine, court_url, clock=Clock())  # an instance from before the new kind existed
    old.register("remind", remind)
    await old.schedule("petition.escalate", "k3", {"to": "staff:s1", "petition": "p3"}, T0)
    assert await old.run_due() == 0
    info = await old.get("k3")
    assert info is not None and info.state == "pending" and info.attempts == 0
    new = JobScheduler(engine, court_url, clock=Clock())
    new.register("petition.escalate", remind)
    assert await new.run_due() == 1


async def test_cancelled_jobs_do_not_run(engine: AsyncEngine, court_url: str) -> None:
    s = JobScheduler(engine, court_url, clock=Clock())
    s.register("remind", remind)
    await s.schedule("remind", "k4", {"to": "staff:j1", "petition": "p4"}, T0)
    assert await s.cancel("k4")
    assert not await s.cancel("k4")
    assert await s.run_due() == 0 and await count_notifications(engine) == 0


async def test_scheduling_joins_the_callers_transaction(engine: AsyncEngine, court_url: str) -> None:
    s = JobScheduler(engine, court_url, clock=Clock())
    with pytest.raises(RuntimeError):
        async with transaction(engine, s._url, "filing", write=True) as conn:
            await schedule_in(conn, "remind", "k5", {"to": "staff:j1", "petition": "p5"}, T0)
            raise RuntimeError("the filing failed")
    assert await s.get("k5") is None  # rolled back with the filing


async def test_pending_jobs_survive_a_restart_and_a_dead_instances_lease_expires(court_url: str) -> None:
    await upgrade(court_url)
    clock = Clock()
    first = make_engine(court_url)
    a = JobScheduler(first, court_url, instance_id="a", clock=clock, lease=timedelta(minutes=5))
    a.register("remind", remind)
    await a.schedule("remind", "later", {"to": "staff:j1", "petition": "p6"}, T0 + timedelta(hours=2))
    await a.schedule("remind", "now", {"to": "staff:j1", "petition": "p7"}, T0)
    now_job = await a.get("now")
    assert now_job is not None and await a._claim(10) == [(now_job.id, 1)]
    await first.dispose()  # instance a dies holding the claim on "now", never running it

    second = make_engine(court_url)
    try:
        b = JobScheduler(second, court_url, instance_id="b", clock=clock, lease=timedelta(minutes=5))
        b.register("remind", remind)
        assert await b.run_due() == 0  # a's lease on "now" still holds
        clock.now = T0 + timedelta(minutes=6)
        assert await b.run_due() == 1  # the lease expired: b runs it
        info = await b.get("now")
        assert info is not None and info.state == "done" and info.attempts == 2
        clock.now = T0 + timedelta(hours=2)
        assert await b.run_due() == 1  # the job scheduled before the restart
        assert await count_notifications(second) == 2
    finally:
        await second.dispose()


@pytest.mark.parametrize("court_url", ["postgres"], indirect=True)
async def test_two_instances_on_postgresql_run_each_due_job_exactly_once(court_url: str) -> None:
    await upgrade(court_url)
    engines = [make_engine(court_url), make_engine(court_url)]
    schedulers = [JobScheduler(e, court_url, instance_id=f"node-{i}", poll_interval=0.05, batch=3)
                  for i, e in enumerate(engines)]
    ran: dict[str, list[str]] = {}

    def handler_of(name: str):  # type: ignore[no-untyped-def]
        async def handler(job: Job, conn: AsyncConnection) -> None:
            ran.setdefault(job.key, []).append(name)
            await remind(job, conn)
            await asyncio.sleep(0)  # let the other instance's claim interleave
        return handler

    for s in schedulers:
        s.register("remind", handler_of(s.instance_id))
    try:
        now = datetime.now(UTC) - timedelta(seconds=1)
        n = 40
        # Both instances schedule the same reminders (as both would on one event): still one job per key.
        for s in schedulers:
            for i in range(n):
                await s.schedule("remind", f"r{i}", {"to": "staff:j1", "petition": f"p{i}"}, now)
        for s in schedulers:
            await s.start()
        await until(lambda: _all_done(engines[0], n), what="every job done")
        assert sorted(ran) == sorted(f"r{i}" for i in range(n))
        assert all(len(names) == 1 for names in ran.values()), {k: v for k, v in ran.items() if len(v) > 1}
        assert await count_notifications(engines[0]) == n
        for i in range(n):
            assert await count_notifications(engines[0], f"r{i}") == 1
    finally:
        for s in schedulers:
            await s.stop()
        for e in engines:
            await e.dispose()


async def _all_done(engine: AsyncEngine, n: int) -> bool:
    async with engine.connect() as conn:
        done = (await conn.execute(select(func.count()).select_from(jobs).where(jobs.c.state == "done"))).scalar_one()
    return int(done) == n
