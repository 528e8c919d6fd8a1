"""The points store (points.store_sql) on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from docket.audit import AuditEvent
from docket.court import InvalidRecord, NewPerson, NotFound
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.tables_points import points_items
from points import ledger
from points.ledger import REWARDS, Posting
from points.store import (
    IdempotencyConflict,
    InsufficientPoints,
    ItemUnavailable,
    NewEntry,
    NewItem,
    OutOfStock,
    PointsStore,
    request_hash,
)
from points.store_sql import SqlPointsStore


@pytest.fixture
async def court(court_url: str) -> AsyncIterator[SqlCourtRecords]:
    db = await open_court_records(court_url, id_hash_iterations=1_000)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def store(court: SqlCourtRecords) -> SqlPointsStore:
    return SqlPointsStore(court.engine, court.url)


async def _person(court: SqlCourtRecords) -> str:
    return (await court.create_person(NewPerson("积分人"))).id


async def _credit(store: SqlPointsStore, person_id: str, points: int, key: str) -> None:
    await store.post(NewEntry("settlement_performed", ledger.credit(person_id, points), key, reference=key))


async def test_satisfies_the_protocol(store: SqlPointsStore) -> None:
    assert isinstance(store, PointsStore)


async def test_post_is_double_entry_append_only_and_idempotent(court: SqlCourtRecords, store: SqlPointsStore) -> None:
    pid = await _person(court)
    entry, created = await store.post(NewEntry("settlement_performed", ledger.credit(pid, 100), "credit:f1",
                                               reference="f1", rules_version="v1"))
    assert created and entry.amount_for(ledger.person_account(pid)) == 100
    again, created = await store.post(NewEntry("settlement_performed", ledger.credit(pid, 100), "credit:f1",
                                               reference="f1", rules_version="v1"))
    assert not created and again.id == entry.id
    with pytest.raises(IdempotencyConflict, match="different request"):
        await store.post(NewEntry("settlement_performed", ledger.credit(pid, 99), "credit:f1", reference="f1"))
    rev, _ = await store.post(NewEntry("settlement_void", ledger.reverse(entry.postings), "reverse:f1",
                                       reference="f9", reversal_of=entry.id))
    assert await store.balance(pid) == 0
    with pytest.raises(InvalidRecord, match="already reversed"):  # an entry is reversed once only
        await store.post(NewEntry("correction", ledger.reverse(entry.postings), "other-key", reversal_of=entry.id))
    with pytest.raises(NotFound, match="points entry"):
        await store.post(NewEntry("correction", ledger.reverse(entry.postings), "k2", reversal_of="nope"))
    with pytest.raises(InvalidRecord, match="sum to zero"):
        await store.post(NewEntry("x", [Posting(ledger.person_account(pid), 5), Posting(REWARDS, -4)], "k3"))
    with pytest.raises(NotFound, match="person"):
        await store.post(NewEntry("x", ledger.credit("ghost", 5), "k4"))
    assert [e.id for e in await store.entries_of(pid)] == [entry.id, rev.id]
    totals = await store.totals()
    assert (totals.issued, totals.outstanding, totals.entries) == (0, 0, 2)


async def test_the_database_refuses_to_change_or_remove_ledger_rows(court: SqlCourtRecords,
                                                                   store: SqlPointsStore) -> None:
    """Append-only is enforced by triggers (migration 0012_ledger_guards), not only by the code's convention."""
    pid = await _person(court)
    await _credit(store, pid, 100, "credit:g1")
    [entry] = await store.entries_of(pid)
    account = ledger.person_account(pid)
    attempts = [("UPDATE points_entries SET reason = 'correction' WHERE id = :id", {"id": entry.id}),
                ("UPDATE points_entries SET idempotency_key = 'other'", {}),
                ("DELETE FROM points_entries WHERE id = :id", {"id": entry.id}),
                ("UPDATE points_postings SET amount = 1000 WHERE account_id = :a", {"a": account}),
                ("DELETE FROM points_postings WHERE entry_id = :id", {"id": entry.id}),
                ("DELETE FROM points_postings", {})]
    if court.engine.dialect.name == "postgresql":
        attempts += [("TRUNCATE points_postings", {}), ("TRUNCATE points_entries CASCADE", {})]
    for sql, params in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            async with court.engine.begin() as conn:
                await conn.execute(text(sql), params)
    assert await store.entries_of(pid) == [entry] and await store.balance(pid) == 100
    # Inserting stays allowed (that is how a correction is made): a reversal entry.
    await store.post(NewEntry("correction", ledger.reverse(entry.postings), "reverse:g1", reversal_of=entry.id))
    assert await store.balance(pid) == 0


async def test_every_entry_sums_to_zero_when_written(court: SqlCourtRecords, store: SqlPointsStore) -> None:
    """The single insertion point checks the postings whoever calls it; PostgreSQL checks again at commit."""
    pid = await _person(court)
    lopsided = [Posting(ledger.person_account(pid), 50), Posting(REWARDS, -40)]
    await _credit(store, pid, 10, "credit:seed")  # the accounts exist
    with pytest.raises(InvalidRecord, match="sum to zero"):
        async with court.engine.begin() as conn:
            await SqlPointsStore._insert_entry(conn, NewEntry("x", lopsided, "k-lopsided"), lopsided)
    if court.engine.dialect.name == "postgresql":  # a writer bypassing the code: refused at commit
        for postings in (lopsided, lopsided[:1]):
            with pytest.raises(DBAPIError, match="does not balance"):
                async with court.engine.begin() as conn:
                    await conn.execute(text("INSERT INTO points_entries (id, reason, idempotency_key, created_at) "
                                            "VALUES ('raw', 'x', 'raw', now())"))
                    for p in postings:
                        await conn.execute(text("INSERT INTO points_postings (entry_id, account_id, amount) "
                                                "VALUES ('raw', :a, :n)"), {"a": p.account, "n": p.amount})
        with pytest.raises(DBAPIError, match="does not balance"):  # an entry with no postings at all
            async with court.engine.begin() as conn:
                await conn.execute(text("INSERT INTO points_entries (id, reason, idempotency_key, created_at) "
                                        "VALUES ('bare', 'x', 'bare', now())"))
    assert [e.idempotency_key for e in await store.entries_of(pid)] == ["credit:seed"]
    assert (await store.totals()).entries == 1

async def test_redeem_checks_balance_stock_and_replays(court: SqlCourtRecords, store: SqlPointsStore) -> None:
    pid, other = await _person(court), await _person(court)
    await _credit(store, pid, 100, "credit:a")
    item = await store.add_item(NewItem("雨伞", price=30, stock=2))
    h = request_hash(pid, item.id, 1)
    first = await store.redeem(pid, item.id, 1, "key-1", h)
    assert (first.points, first.balance_after, first.stock_after, first.replayed) == (30, 70, 1, False)
    replay = await store.redeem(pid, item.id, 1, "key-1", h)
    assert replay.replayed and replay.id == first.id and replay.balance_after == 70
    assert await store.balance(pid) == 70 and (await store.get_item(item.id)).stock == 1  # charged once

    async def unchanged() -> None:
        assert await store.balance(pid) == 70 and (await store.get_item(item.id)).stock == 1
        assert len(await store.redemptions_of(pid)) == 1

    with pytest.raises(IdempotencyConflict, match="different request"):  # same key, different body
        await store.redeem(pid, item.id, 2, "key-1", request_hash(pid, item.id, 2))
    with pytest.raises(IdempotencyConflict):  # same key, another person
        await store.redeem(other, item.id, 1, "key-1", request_hash(other, item.id, 1))
    with pytest.raises(NotFound, match="person"):
        await store.redeem("ghost", item.id, 1, "key-2", request_hash("ghost", item.id, 1))
    with pytest.raises(NotFound, match="points item"):
        await store.redeem(pid, "nope", 1, "key-3", request_hash(pid, "nope", 1))
    with pytest.raises(OutOfStock):
        await store.redeem(pid, item.id, 2, "key-4", request_hash(pid, item.id, 2))
    with pytest.raises(InsufficientPoints, match="has 0 points"):
        await store.redeem(other, item.id, 1, "key-5", request_hash(other, item.id, 1))
    with pytest.raises(InvalidRecord, match="quantity"):
        await store.redeem(pid, item.id, 0, "key-6", request_hash(pid, item.id, 0))
    with pytest.raises(InvalidRecord, match="idempotency key"):
        await store.redeem(pid, item.id, 1, " ", h)
    await unchanged()
    # A refusal is not stored: the same key works once the cause is gone.
    await store.update_item(item.id, stock=5)
    assert (await store.redeem(pid, item.id, 2, "key-4", request_hash(pid, item.id, 2))).stock_after == 3
    await store.update_item(item.id, active=False, audit=AuditEvent("staff-1", "staff", "points.item_update",
                                                                    f"points_item:{item.id}"))
    with pytest.raises(ItemUnavailable):
        await store.redeem(pid, item.id, 1, "key-7", request_hash(pid, item.id, 1))
    assert [i.id for i in await store.list_items()] == [] and len(await store.list_items(active_only=False)) == 1
    totals = await store.totals()
    assert (totals.issued, totals.redeemed, totals.outstanding, totals.redemptions) == (100, 90, 10, 2)
    assert totals.by_reason == {"redemption": -90, "settlement_performed": 100}
    audit = await court.audit.entries()
    assert [e.action for e in audit] == ["points.redeem", "points.redeem", "points.item_update"]
    assert "积分人" not in str(audit)


async def test_stock_and_prices_are_checked(court: SqlCourtRecords, store: SqlPointsStore) -> None:
    with pytest.raises(InvalidRecord, match="price"):
        await store.add_item(NewItem("x", price=0, stock=1))
    with pytest.raises(InvalidRecord, match="stock"):
        await store.add_item(NewItem("x", price=1, stock=-1))
    item = await store.add_item(NewItem("x", price=1, stock=1))
    with pytest.raises(InvalidRecord, match="stock"):
        await store.update_item(item.id, stock=-3)
    with pytest.raises(NotFound):
        await store.update_item("nope", stock=3)
    # The database itself refuses negative stock, whoever writes.
    with pytest.raises(IntegrityError, match=r"(?i)check|constraint"):
        async with court.engine.begin() as conn:
            await conn.execute(points_items.update().values(stock=-1))


async def test_cursor_moves_forward_only(store: SqlPointsStore) -> None:
    assert await store.get_cursor("facts") == 0
    await store.set_cursor("facts", 5)
    await store.set_cursor("facts", 3)
    assert await store.get_cursor("facts") == 5


# ---- the concurrency test, on PostgreSQL ------------------------------------------------------------


@pytest.mark.postgres
async def test_100_concurrent_redemptions_against_a_balance_for_10(pg_url: str) -> None:
    court = await open_court_records(pg_url, id_hash_iterations=1_000)
    # Its own engine with many connections, so the requests really run side by side on separate connections.
    engine = create_async_engine(pg_url, pool_size=40, max_overflow=0)
    store = SqlPointsStore(engine, pg_url)
    try:
        pid = await _person(court)
        await _credit(store, pid, 100, "credit:pg")
        item = await store.add_item(NewItem("购物券", price=10, stock=50))
        scarce = await store.add_item(NewItem("限量品", price=1, stock=7))
        lowest = {"balance": 100, "stock": 50}
        done = asyncio.Event()

        async def watch() -> None:  # balance and stock are never seen below zero, even mid-way
            async with engine.connect() as conn:
                while not done.is_set():
                    bal = await store.balance(pid)
                    stock = (await conn.execute(select(points_items.c.stock)
                                                .where(points_items.c.id == item.id))).scalar_one()
                    await conn.rollback()
                    lowest["balance"], lowest["stock"] = min(lowest["balance"], bal), min(lowest["stock"], stock)
                    await asyncio.sleep(0)

        async def attempt(i: int) -> str:
            try:
                await store.redeem(pid, item.id, 1, f"k-{i}", request_hash(pid, item.id, 1))
                return "ok"
            except InsufficientPoints:
                return "refused"

        watcher = asyncio.create_task(watch())
        outcomes = await asyncio.gather(*(attempt(i) for i in range(100)))
        done.set()
        await watcher
        assert outcomes.count("ok") == 10 and outcomes.count("refused") == 90
        assert await store.balance(pid) == 0 and (await store.get_item(item.id)).stock == 40
        assert lowest["balance"] >= 0 and lowest["stock"] >= 0
        assert len(await store.redemptions_of(pid)) == 10

        # Stock as the limit: plenty of points, 7 left, 30 people at once (one person here) → exactly 7.
        await _credit(store, pid, 1000, "credit:pg2")

        async def attempt_scarce(i: int) -> str:
            try:
                await store.redeem(pid, scarce.id, 1, f"s-{i}", request_hash(pid, scarce.id, 1))
                return "ok"
            except OutOfStock:
                return "refused"

        outcomes = await asyncio.gather(*(attempt_scarce(i) for i in range(30)))
        assert outcomes.count("ok") == 7 and (await store.get_item(scarce.id)).stock == 0

        # The same key sent 20 times at once: one redemption, every answer the first result.
        h = request_hash(pid, item.id, 2)
        results = await asyncio.gather(*(store.redeem(pid, item.id, 2, "same-key", h) for _ in range(20)))
        assert len({r.id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
        assert await store.balance(pid) == 1000 - 7 - 20
        totals = await store.totals()
        assert totals.issued == 1100 and totals.redeemed == 100 + 7 + 20 and totals.outstanding == 973
        async with engine.connect() as conn:  # every entry sums to zero
            unbalanced = (await conn.execute(text(
                "SELECT count(*) FROM (SELECT entry_id FROM points_postings GROUP BY entry_id "
                "HAVING sum(amount) <> 0) t"))).scalar_one()
        assert unbalanced == 0
    finally:
        await engine.dispose()
        await court.close()


# ---- the service: facts → ledger ------------------------------------------------------------------------------


async def test_service_reconciles_facts_idempotently(court: SqlCourtRecords, store: SqlPointsStore) -> None:
    from datetime import date

    from docket.facts import FactKind, NewFact
    from docket.facts_sql import SqlFactRecords
    from points.rules import WEIGHTS, Reason
    from points.service import PointsService, Reconciled

    facts = SqlFactRecords(court.engine, court.url)
    service = PointsService(facts, store)
    pid, other = await _person(court), await _person(court)

    async def fact(person: str, kind: FactKind, ref: str, sid: str = "s1") -> str:
        return (await facts.add_fact(NewFact(person, kind, date(2026, 5, 1), "court", ref, "(2026)民初7号",
                                             {"settlement_id": sid}))).id

    await fact(pid, FactKind.SETTLEMENT_REACHED, "r1")
    await fact(pid, FactKind.MEDIATION_PARTICIPATION, "m1")
    assert await service.follow_facts() == 2
    assert await service.balance(pid) == WEIGHTS[Reason.MEDIATION_PARTICIPATION]  # reached alone earns nothing
    performed = await fact(pid, FactKind.SETTLEMENT_PERFORMED, "p1")
    await fact(other, FactKind.JUDGMENT_PERFORMED_ON_TIME, "j1")
    assert await service.follow_facts() == 2 and await service.follow_facts() == 0
    assert await service.balance(pid) == 120 and await service.balance(other) == 50
    assert await service.reconcile(pid) == Reconciled(0, 0)  # nothing twice
    void = await fact(pid, FactKind.SETTLEMENT_VOID, "v1")
    await asyncio.gather(service.follow_facts(), service.reconcile(pid), service.reconcile(pid))
    assert await service.balance(pid) == 20
    lines = await service.history(pid)
    assert [(x.reason, x.points, x.balance_after) for x in lines] == [
        ("mediation_participation", 20, 20), ("settlement_performed", 100, 120), ("settlement_void", -100, 20)]
    assert lines[1].reference == performed and lines[2].reference == void and lines[2].reversal_of == lines[1].entry_id
    assert "调解" in lines[1].reason_text
    totals = await service.totals()
    assert (totals.issued, totals.outstanding, totals.accounts) == (70, 70, 2)
    with pytest.raises(NotFound):
        await service.history("ghost")
