"""The facts follower (docket.facts_follower): new facts reach the integrity code and the points ledger by themselves.

End to end on a live app: a clerk records outcomes through the API and, with no read by the person and no staff
follow call, the person's balance and code history catch up. Below that, on both backends: a follower is woken by
an append (its poll interval is an hour, so nothing else could wake it), catches up after a restart from its
persisted cursor, retries a failed batch instead of skipping it, and two followers at once (two app instances)
post each credit and record each snapshot once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from docket.court import NewCase, NewPerson, Party, PartySide
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.facts import FactKind, NewFact
from docket.facts_follower import FactsFollower
from docket.facts_sql import SqlFactRecords
from docket.staff_sql import SqlStaffStore
from docket.tables_integrity import integrity_codes
from docket.tables_points import points_entries
from hearing.staff_auth import StaffAuth, cheap_hasher
from integrity.service import FACTS_CHANGED, IntegrityService
from integrity.signing import CodeSigner
from points.service import PointsService
from points.store_sql import SqlPointsStore
from tests.conftest import until
from tests.live import live_server

pytestmark = pytest.mark.timeout(180)
PASSWORD = "correct horse battery staple"
CASE = "(2026)跟随民初1号"
HOUR = 3600.0


async def test_an_outcome_recorded_through_the_api_reaches_points_and_the_code_history(
        court_url: str, tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False, database_url=court_url) as server:
        s = server.services
        await StaffAuth(SqlStaffStore(s.court.engine), s.audit, hasher=cheap_hasher()).create_account(
            "clerk", "李书记员", ["clerk"], PASSWORD)
        person = await s.court.create_person(NewPerson("张调解", birth_date=date(1980, 1, 1)))
        other = await s.court.create_person(NewPerson("赵调解", birth_date=date(1981, 1, 1)))
        case = await s.court.create_case(NewCase(CASE, "debt", [Party(person.id, PartySide.PLAINTIFF),
                                                               Party(other.id, PartySide.DEFENDANT)]))
        # Read-only views of what the follower writes: neither reconciles nor snapshots on read.
        store = SqlPointsStore(s.court.engine, s.court.url)
        integrity = IntegrityService(s.court, SqlFactRecords(s.court.engine, s.court.url), CodeSigner.generate())
        assert await store.balance(person.id) == 0 and await integrity.history(person.id) == []

        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            token = (await http.post("/api/login", json={"username": "clerk", "password": PASSWORD})).json()["token"]
            http.cookies.clear()
            http.headers["Authorization"] = f"Bearer {token}"
            today = datetime.now(UTC).date().isoformat()
            for kind in ("settlement_reached", "settlement_performed"):
                r = await http.post(f"/api/cases/{case.id}/outcomes", json={
                    "person_id": person.id, "kind": kind, "occurred_on": today, "reference": "调解书1",
                    "settlement_id": "s1"})
                assert r.status_code == 201, r.text
            performed = r.json()["fact_id"]

        async def credited() -> bool:
            return await store.balance(person.id) == 100

        async def snapshotted() -> bool:
            history = await integrity.history(person.id)
            return bool(history) and history[0].trigger == FACTS_CHANGED and any(
                performed in reason["fact_ids"] for reason in history[0].reasons)

        await until(credited, what="the settlement's 100 points credited by the follower")
        await until(snapshotted, what="a code snapshot counting the performed settlement")
        [entry] = await store.entries_of(person.id)
        assert (entry.reason, entry.reference) == ("settlement_performed", performed)
        assert await store.balance(other.id) == 0  # nobody else earns
        # The follower audits nothing: the only entries are the clerk's two recorded outcomes.
        assert [e.action for e in await s.audit.entries(limit=1000)].count("integrity.fact_recorded") == 2
        assert await s.audit.verify() is None


# ---- the follower itself, on both backends -------------------------------------------------------------------


@dataclass
class World:
    court: SqlCourtRecords
    facts: SqlFactRecords
    store: SqlPointsStore
    integrity: IntegrityService
    points: PointsService

    def follower(self, **kw: object) -> FactsFollower:
        return FactsFollower(self.facts, self.store, [self.integrity.recompute, self.points.reconcile],
                             **kw)  # type: ignore[arg-type]

    async def adult(self, name: str = "钱当事人") -> str:
        return (await self.court.create_person(NewPerson(name, birth_date=date(1980, 1, 1)))).id

    async def settle(self, person_id: str, sid: str = "s1") -> str:
        """A settlement reached and performed: 100 points, +5 on the code. Returns the performed fact's id."""
        for kind in (FactKind.SETTLEMENT_REACHED, FactKind.SETTLEMENT_PERFORMED):
            fact = await self.facts.add_fact(NewFact(person_id, kind, date(2026, 5, 1), "court",
                                                     f"{kind.value}:{person_id}:{sid}", CASE, {"settlement_id": sid}))
        return fact.id

    async def snapshots(self, person_id: str) -> int:
        async with self.court.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(integrity_codes).where(
                integrity_codes.c.person_id == person_id, integrity_codes.c.trigger == FACTS_CHANGED))).scalar_one())

    async def entries(self) -> int:
        async with self.court.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(points_entries))).scalar_one())


def _world(court: SqlCourtRecords) -> World:
    facts = SqlFactRecords(court.engine, court.url)
    store = SqlPointsStore(court.engine, court.url)
    return World(court, facts, store, IntegrityService(court, facts, CodeSigner.generate()),
                 PointsService(facts, store))


@pytest.fixture
def world(court: SqlCourtRecords) -> World:
    return _world(court)


async def test_an_append_wakes_the_follower_at_once(world: World) -> None:
    follower = world.follower(poll_interval=HOUR)  # only the append's wake-up can make it look again in time
    await follower.start()
    try:
        await until(lambda: follower.passes >= 1, what="the catch-up at start")
        person = await world.adult()
        # Another register instance on the same engine, as the outcomes API and the hearing bridge each build.
        world.facts = SqlFactRecords(world.court.engine, world.court.url)
        await world.settle(person)

        async def caught_up() -> bool:
            return follower.followed_seq == 2 and await world.points.balance(person) == 100

        await until(caught_up, what="the woken follower crediting the settlement")
        assert await world.store.get_cursor("follower") == 2 and await world.snapshots(person) >= 1
    finally:
        await follower.stop()
    assert not follower.running


async def test_a_restart_catches_up_from_the_persisted_cursor(world: World) -> None:
    first, second = await world.adult(), await world.adult("李当事人")
    await world.settle(first)
    assert await world.follower().catch_up() == 2
    await world.settle(second)  # appended while no follower runs (the process was down)
    restarted = world.follower(poll_interval=HOUR)  # a new process: only the cursor in the database survives
    await restarted.start()
    try:
        async def caught_up() -> bool:
            return await world.points.balance(second) == 100 and restarted.followed_seq == 4

        await until(caught_up, what="the catch-up at start")
    finally:
        await restarted.stop()
    assert await world.points.balance(first) == 100 and await world.snapshots(first) == 1  # not redone
    assert await world.snapshots(second) == 1 and await world.store.get_cursor("follower") == 4


async def test_a_failed_batch_is_retried_not_skipped(world: World) -> None:
    person = await world.adult()
    attempts: list[str] = []
    retried = asyncio.Event()

    async def flaky(person_id: str) -> None:
        attempts.append(person_id)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")
        retried.set()

    follower = FactsFollower(world.facts, world.store, [world.integrity.recompute, flaky, world.points.reconcile],
                             poll_interval=HOUR, retry_initial=0.01)
    await world.settle(person)
    await follower.start()
    try:
        async with asyncio.timeout(60):
            await retried.wait()
        await until(lambda: follower.passes >= 1, what="the retried pass to complete")
        assert follower.failures == 0 and follower.followed_seq == 2 and attempts == [person, person]
    finally:
        await follower.stop()
    assert await world.points.balance(person) == 100
    assert await world.snapshots(person) == 1  # the first, failed attempt's snapshot is not repeated


async def test_two_instances_following_at_once_credit_and_snapshot_once(court_url: str, world: World) -> None:
    people = [await world.adult(f"当事人{i}") for i in range(4)]
    for p in people:
        await world.settle(p)
    # A second app instance: its own engine on the same database.
    other = await open_court_records(court_url, id_hash_iterations=1_000)
    try:
        twin = _world(other)
        read = await asyncio.gather(world.follower(batch=3).catch_up(), twin.follower(batch=5).catch_up(),
                                    world.follower().catch_up())
        assert all(0 <= n <= 8 for n in read)
        assert await world.store.get_cursor("follower") == 8
        for p in people:
            assert await world.points.balance(p) == 100
            assert await world.snapshots(p) == 1
        assert await world.entries() == 4
        assert await twin.follower().catch_up() == 0  # the shared cursor: nothing left
    finally:
        await other.close()
