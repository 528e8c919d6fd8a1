"""The facts follower across instances, on PostgreSQL: two followers (two app instances, each its own engine)
run each handler once per fact between them, are woken by NOTIFY from a third writer (their poll interval is an
hour, so nothing else could wake them in time), a fact whose handler keeps failing is parked (audited) while the
facts after it go through, the lag is exported as a metric, and a killed holder's lock is released by the
database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select, text

from docket.court_sql import SqlCourtRecords, open_court_records
from docket.facts import FactKind, NewFact
from docket.facts_follower import FactsFollower, FollowerCollector
from docket.facts_sql import SqlFactRecords
from docket.tables import audit_log
from docket.work_lock import exclusive
from tests.conftest import until
from tests.test_facts_follower import CASE, HOUR, World, _world

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


@pytest.fixture
async def instances(pg_url: str) -> list[SqlCourtRecords]:
    """Three engines on one database: two app instances and a writer elsewhere (an import, another node)."""
    opened = [await open_court_records(pg_url, id_hash_iterations=1_000) for _ in range(3)]
    yield opened
    for court in opened:
        await court.close()


def counting(world: World, seen: Counter[tuple[str, str]]) -> FactsFollower:
    async def integrity(person_id: str) -> None:
        seen[("integrity", person_id)] += 1
        await world.integrity.recompute(person_id)

    async def points(person_id: str) -> None:
        seen[("points", person_id)] += 1
        await world.points.reconcile(person_id)

    return FactsFollower(world.facts, world.store, [integrity, points], poll_interval=HOUR)


def settlements(people: list[str], sid: str) -> list[NewFact]:
    """Each person's settlement reached and performed (100 points), as one import would record them."""
    return [NewFact(p, kind, date(2026, 5, 1), "court", f"{kind.value}:{p}:{sid}", CASE, {"settlement_id": sid})
            for p in people for kind in (FactKind.SETTLEMENT_REACHED, FactKind.SETTLEMENT_PERFORMED)]


async def test_two_followers_run_each_handler_once_woken_by_notify(instances: list[SqlCourtRecords]) -> None:
    a, b, writer = (_world(c) for c in instances)
    seen: Counter[tuple[str, str]] = Counter()
    followers = [counting(a, seen), counting(b, seen)]
    for f in followers:
        await f.start()
    try:
        people = []
        for rnd in range(3):  # three imports in a row, each one commit, through the third engine: only NOTIFY
            batch = [await writer.adult(f"当事人{rnd}-{i}") for i in range(4)]  # reaches the followers in time
            await writer.facts.add_facts(settlements(batch, f"s{rnd}"))
            people += batch

        async def all_credited() -> bool:
            return all([await writer.points.balance(p) == 100 for p in people])

        await until(all_credited, what="every settlement credited by one of the followers")
        await until(lambda: all(f.lag == 0 for f in followers), what="both followers seeing no lag")
        assert await writer.store.get_cursor("follower") == 24
        # Each handler ran once per person (whose facts came in one commit) between the two instances: the lock.
        assert seen == Counter({(h, p): 1 for h in ("integrity", "points") for p in people})
        for p in people:
            assert await writer.snapshots(p) == 1
        assert await writer.entries() == 12
    finally:
        for f in followers:
            await f.stop()


async def test_a_fact_that_keeps_failing_is_parked_and_the_rest_go_through(instances: list[SqlCourtRecords]) -> None:
    world = _world(instances[0])
    bad, good = await world.adult("坏当事人"), await world.adult("好当事人")
    broken = {bad}
    tries: Counter[str] = Counter()

    async def picky(person_id: str) -> None:
        tries[person_id] += 1
        if person_id in broken:
            raise ValueError("cannot read this person's record")

    follower = FactsFollower(world.facts, world.store, [world.integrity.recompute, picky, world.points.reconcile],
                             poll_interval=HOUR, retry_initial=0.01, park_after=3)
    await world.settle(bad)
    await world.settle(good)
    await follower.start()
    try:
        await until(lambda: follower.lag == 0 and follower.passes >= 1, what="the follower past the bad fact")
    finally:
        await follower.stop()
    assert tries[bad] == 3 and follower.parked_total == 2
    assert await world.points.balance(good) == 100  # after the bad facts, not held back by them
    parked = await world.facts.parked("follower")
    assert [(p.person_id, p.attempts, p.handler) for p in parked] == [(bad, 3, "test_a_fact_that_keeps_failing_"
                                                                        "is_parked_and_the_rest_go_through."
                                                                        "<locals>.picky")] * 2
    assert "cannot read this person's record" in parked[0].error
    async with world.court.engine.connect() as conn:
        entry = (await conn.execute(select(audit_log).where(audit_log.c.action == "facts.parked"))).one()
    assert entry.subject == f"person:{bad}"
    # The cause fixed, the parked person goes through and is no longer listed.
    broken.clear()
    assert await follower.retry_parked() == 1
    assert await world.facts.parked("follower") == []
    assert await world.points.balance(bad) == 100


async def test_lag_is_exported_while_a_pass_is_behind(instances: list[SqlCourtRecords]) -> None:
    world = _world(instances[0])
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(person_id: str) -> None:
        started.set()
        await release.wait()

    follower = FactsFollower(world.facts, world.store, [slow], poll_interval=HOUR)
    registry = CollectorRegistry()
    registry.register(FollowerCollector(follower))
    for i in range(2):
        await world.settle(await world.adult(f"当事人{i}"))
    await follower.start()
    try:
        async with asyncio.timeout(60):
            await started.wait()
        metrics = generate_latest(registry).decode()
        assert 'hearing_facts_follower_lag_facts{follower="follower"} 4.0' in metrics
        assert follower.lag_seconds > 0
        release.set()
        # A wake-up from the facts' own NOTIFY may start a second (empty) pass: wait for one pass done and no lag.
        await until(lambda: follower.passes >= 1 and follower.lag == 0, what="the pass to finish")
        metrics = generate_latest(registry).decode()
        assert 'hearing_facts_follower_lag_facts{follower="follower"} 0.0' in metrics
        assert 'hearing_facts_follower_lag_seconds{follower="follower"} 0.0' in metrics
        assert 'hearing_facts_follower_cursor{follower="follower"} 4.0' in metrics
    finally:
        release.set()
        await follower.stop()


async def test_a_killed_holders_lock_is_released_by_the_database(instances: list[SqlCourtRecords]) -> None:
    first, second, admin = (c.engine for c in instances)
    async with exclusive(first, "work") as held:
        assert held
        async with exclusive(second, "work") as other:
            assert not other  # at once, not after a wait
        # The holder's process dies: its database session ends (here terminated from outside).
        async with admin.connect() as conn:
            killed = (await conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))).all()
            await conn.commit()
        assert killed == [(True,)]
        async with exclusive(second, "work") as other:
            assert other
    # The first holder's unlock found its session gone and did not raise.
    async with exclusive(second, "work") as again:
        assert again


def test_sqlite_register_has_no_cross_process_listener(tmp_path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert SqlFactRecords(engine).listen_appended(lambda seq: None) is None
