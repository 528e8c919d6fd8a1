"""`PointsStore` over SQL (SQLite embedded, PostgreSQL deployed), sharing the court register's engine.

Serialisation: a redemption or a posting locks the person's account row first (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` takes the single writer lock instead), then the item row, then the audit
chain head — always in that order, so two writers never wait on each other in a cycle. The balance is read after
the account lock, so two redemptions of one person cannot both spend the same points; the stock update is
conditional (`stock >= quantity`) and backed by a CHECK, so stock cannot go below zero even if a lock were missed.
The idempotency key is checked after the lock too, so a concurrent replay waits for the first request and returns
its result; the unique constraint catches the one race the lock does not cover (one key, two persons).

The ledger is append-only in the database too (migration 0012_ledger_guards: triggers refuse UPDATE and DELETE of
entries and postings), and every entry's postings sum to zero (checked here; on PostgreSQL also at commit).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.court import InvalidRecord, NotFound
from docket.records import RecordsError
from docket.sql import parse_url
from docket.tables import CODE_LENGTH, ID_LENGTH, persons
from docket.tables_points import (
    KEY_LENGTH,
    points_accounts,
    points_cursor,
    points_entries,
    points_items,
    points_person_tokens,
    points_postings,
    points_redemptions,
)
from docket.transactions import transaction
from points import ledger
from points.ledger import REDEMPTIONS, REWARDS, InvalidEntry, Posting
from points.store import (
    Entry,
    IdempotencyConflict,
    InsufficientPoints,
    Item,
    ItemUnavailable,
    NewEntry,
    NewItem,
    OutOfStock,
    PersonToken,
    Redemption,
    Totals,
)

MAX_QUANTITY = 100
MAX_STOCK = 1_000_000
MAX_PRICE = 10_000_000
_HASH = re.compile(r"[0-9a-f]{64}")
PERSON_ROLE = "person"
"""The audit role of a person acting for themselves (redeeming)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


def _key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_LENGTH or key != key.strip():
        raise InvalidRecord(f"an idempotency key is 1 to {KEY_LENGTH} characters without surrounding spaces "
                            "(a UUID is a good choice)")
    return key


def _whole(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecord(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _text(what: str, value: str, limit: int | None = None) -> str:
    value = (value or "").strip()
    if not value or (limit is not None and len(value) > limit):
        raise InvalidRecord(f"{what} must be 1 to {limit or 'any number of'} characters")
    return value


def _item(r: Row[Any]) -> Item:
    return Item(r.id, r.name, r.description, int(r.price), int(r.stock), bool(r.active), r.created_at, r.updated_at)


def _redemption(r: Row[Any], *, replayed: bool = False) -> Redemption:
    res = json.loads(r.result)
    return Redemption(r.id, r.idempotency_key, r.person_id, r.item_id, int(r.quantity), int(res["points"]),
                      r.entry_id, int(res["balance_after"]), int(res["stock_after"]), r.created_at, replayed)


class SqlPointsStore:
    """`PointsStore` on the court's engine: `SqlPointsStore(court.engine, court.url)`. Migrations create its tables
    (0010_points); it does not migrate."""

    def __init__(self, engine: AsyncEngine, url: str | URL) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    # ---- accounts ------------------------------------------------------------------------------------------

    @staticmethod
    async def _ensure_accounts(conn: AsyncConnection, accounts: Sequence[str]) -> None:
        """Create missing account rows (person accounts only for known persons: NotFound otherwise)."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for account in accounts:
            person_id = ledger.person_of(account)
            if person_id is not None:
                known = (await conn.execute(select(persons.c.id).where(persons.c.id == person_id))).first()
                if known is None:
                    raise NotFound("person", person_id)
            stmt = dialect.insert(points_accounts).values(id=account, person_id=person_id, created_at=_now())
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

    @staticmethod
    async def _lock_accounts(conn: AsyncConnection, accounts: Sequence[str]) -> None:
        """Lock person accounts in sorted order (system accounts are never locked: every credit touches them)."""
        for account in sorted(a for a in accounts if ledger.person_of(a) is not None):
            await conn.execute(select(points_accounts.c.id).where(points_accounts.c.id == account).with_for_update())

    @staticmethod
    async def _balance(conn: AsyncConnection, account: str) -> int:
        total = (await conn.execute(
            select(func.coalesce(func.sum(points_postings.c.amount), 0)).where(points_postings.c.account_id == account)
        )).scalar_one()
        return int(total)

    @staticmethod
    async def _require_person(conn: AsyncConnection, person_id: str) -> None:
        if (await conn.execute(select(persons.c.id).where(persons.c.id == person_id))).first() is None:
            raise NotFound("person", person_id)

    # ---- entries -------------------------------------------------------------------------------------------

    @staticmethod
    async def _postings(conn: AsyncConnection, entry_ids: Sequence[str]) -> dict[str, tuple[Posting, ...]]:
        if not entry_ids:
            return {}
        out: dict[str, list[Posting]] = {}
        rows = await conn.execute(
            select(points_postings).where(points_postings.c.entry_id.in_(entry_ids))
            .order_by(points_postings.c.entry_id, points_postings.c.account_id)
        )
        for r in rows:
            out.setdefault(r.entry_id, []).append(Posting(r.account_id, int(r.amount)))
        return {k: tuple(v) for k, v in out.items()}

    async def _entries(self, conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[Entry]:
        postings = await self._postings(conn, [r.id for r in rows])
        return [Entry(r.id, r.reason, postings.get(r.id, ()), r.idempotency_key, r.reference, r.reversal_of,
                      r.rules_version, r.actor_id, r.created_at) for r in rows]

    @staticmethod
    async def _insert_entry(conn: AsyncConnection, entry: NewEntry, postings: Sequence[Posting]) -> Entry:
        """The one place entries are written (posts and redemptions): the double-entry rules are checked here
        whoever called, so an entry that does not sum to zero never reaches the database. On PostgreSQL a deferred
        constraint trigger checks the same at commit (migration 0012_ledger_guards)."""
        try:
            postings = ledger.validate(list(postings))
        except InvalidEntry as exc:
            raise InvalidRecord(str(exc)) from None
        row = Entry(_new_id(), entry.reason, tuple(postings), entry.idempotency_key, entry.reference,
                    entry.reversal_of, entry.rules_version, entry.actor_id, _now())
        await conn.execute(points_entries.insert().values(
            id=row.id, reason=row.reason, reference=row.reference, idempotency_key=row.idempotency_key,
            reversal_of=row.reversal_of, rules_version=row.rules_version, actor_id=row.actor_id,
            created_at=row.created_at,
        ))
        await conn.execute(points_postings.insert(), [
            {"entry_id": row.id, "account_id": p.account, "amount": p.amount} for p in postings
        ])
        return row

    async def _existing_entry(self, conn: AsyncConnection, entry: NewEntry,
                              postings: Sequence[Posting]) -> Entry | None:
        row = (await conn.execute(
            select(points_entries).where(points_entries.c.idempotency_key == entry.idempotency_key)
        )).first()
        if row is None:
            return None
        [stored] = await self._entries(conn, [row])
        if (set(stored.postings) != set(postings) or stored.reason != entry.reason
                or stored.reversal_of != entry.reversal_of or stored.reference != entry.reference):
            raise IdempotencyConflict(entry.idempotency_key)
        return stored

    async def post(self, entry: NewEntry, *, audit: AuditEvent | None = None) -> tuple[Entry, bool]:
        try:
            postings = ledger.validate(list(entry.postings))
        except InvalidEntry as exc:
            raise InvalidRecord(str(exc)) from None
        _key(entry.idempotency_key)
        _text("reason", entry.reason, CODE_LENGTH)
        for what, value in (("reference", entry.reference), ("reversal_of", entry.reversal_of),
                            ("actor_id", entry.actor_id)):
            if value is not None and not 0 < len(value) <= ID_LENGTH:
                raise InvalidRecord(f"{what} must be 1 to {ID_LENGTH} characters")
        accounts = [p.account for p in postings]
        try:
            async with self._tx(f"posting points entry {entry.idempotency_key!r}", write=True) as conn:
                await self._ensure_accounts(conn, accounts)
                await self._lock_accounts(conn, accounts)
                stored = await self._existing_entry(conn, entry, postings)
                if stored is not None:
                    return stored, False
                if entry.reversal_of is not None:
                    original = (await conn.execute(
                        select(points_entries.c.id).where(points_entries.c.id == entry.reversal_of)
                    )).first()
                    if original is None:
                        raise NotFound("points entry", entry.reversal_of)
                row = await self._insert_entry(conn, entry, postings)
                if audit is not None:
                    await append_in(conn, audit)
                return row, True
        except RecordsError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        # A concurrent writer posted the same key (or reversed the same entry) first: its entry stands.
        async with self._tx(f"re-reading points entry {entry.idempotency_key!r}") as conn:
            stored = await self._existing_entry(conn, entry, postings)
        if stored is None:
            raise InvalidRecord(f"entry {entry.reversal_of!r} is already reversed; an entry is reversed only once")
        return stored, False

    async def entries_of(self, person_id: str) -> list[Entry]:
        account = ledger.person_account(person_id)
        async with self._tx(f"reading the points of person {person_id!r}") as conn:
            await self._require_person(conn, person_id)
            rows = (await conn.execute(
                select(points_entries)
                .where(points_entries.c.id.in_(
                    select(points_postings.c.entry_id).where(points_postings.c.account_id == account)))
                .order_by(points_entries.c.created_at, points_entries.c.id)
            )).all()
            return await self._entries(conn, rows)

    async def balance(self, person_id: str) -> int:
        async with self._tx(f"reading the balance of person {person_id!r}") as conn:
            await self._require_person(conn, person_id)
            return await self._balance(conn, ledger.person_account(person_id))

    async def totals(self) -> Totals:
        async with self._tx("totalling the points ledger") as conn:
            issued = -await self._balance(conn, REWARDS)
            redeemed = await self._balance(conn, REDEMPTIONS)
            person_postings = points_postings.c.account_id.like(ledger.PERSON_PREFIX + "%")
            outstanding = int((await conn.execute(
                select(func.coalesce(func.sum(points_postings.c.amount), 0)).where(person_postings)
            )).scalar_one())
            by_reason = {r.reason: int(r.total) for r in await conn.execute(
                select(points_entries.c.reason, func.sum(points_postings.c.amount).label("total"))
                .join(points_postings, points_postings.c.entry_id == points_entries.c.id)
                .where(person_postings).group_by(points_entries.c.reason).order_by(points_entries.c.reason)
            )}
            accounts = (await conn.execute(select(func.count()).select_from(points_accounts)
                                           .where(points_accounts.c.person_id.is_not(None)))).scalar_one()
            entries = (await conn.execute(select(func.count()).select_from(points_entries))).scalar_one()
            redemptions = (await conn.execute(select(func.count()).select_from(points_redemptions))).scalar_one()
        return Totals(issued, redeemed, outstanding, int(accounts), int(entries), int(redemptions), by_reason)

    # ---- catalogue -----------------------------------------------------------------------------------------

    async def add_item(self, item: NewItem, *, audit: AuditEvent | None = None) -> Item:
        now = _now()
        row = Item(_new_id(), _text("item name", item.name, 200), (item.description or "").strip(),
                   _whole("price", item.price, 1, MAX_PRICE), _whole("stock", item.stock, 0, MAX_STOCK), True, now,
                   now)
        async with self._tx("adding a catalogue item", write=True) as conn:
            await conn.execute(points_items.insert().values(
                id=row.id, name=row.name, description=row.description, price=row.price, stock=row.stock,
                active=row.active, created_at=now, updated_at=now,
            ))
            if audit is not None:
                await append_in(conn, audit_with(audit, item_id=row.id, price=row.price, stock=row.stock))
        return row

    async def update_item(self, item_id: str, *, stock: int | None = None, price: int | None = None,
                          active: bool | None = None, audit: AuditEvent | None = None) -> Item:
        values: dict[str, Any] = {}
        if stock is not None:
            values["stock"] = _whole("stock", stock, 0, MAX_STOCK)
        if price is not None:
            values["price"] = _whole("price", price, 1, MAX_PRICE)
        if active is not None:
            values["active"] = bool(active)
        if not values:
            raise InvalidRecord("nothing to change: give stock, price or active")
        async with self._tx(f"updating catalogue item {item_id!r}", write=True) as conn:
            row = (await conn.execute(select(points_items).where(points_items.c.id == item_id)
                                      .with_for_update())).first()
            if row is None:
                raise NotFound("points item", item_id)
            await conn.execute(update(points_items).where(points_items.c.id == item_id)
                               .values(**values, updated_at=_now()))
            if audit is not None:
                await append_in(conn, audit_with(audit, item_id=item_id, **values))
            return _item((await conn.execute(select(points_items).where(points_items.c.id == item_id))).one())

    async def get_item(self, item_id: str) -> Item:
        async with self._tx(f"reading catalogue item {item_id!r}") as conn:
            row = (await conn.execute(select(points_items).where(points_items.c.id == item_id))).first()
        if row is None:
            raise NotFound("points item", item_id)
        return _item(row)

    async def list_items(self, *, active_only: bool = True) -> list[Item]:
        query = select(points_items).order_by(points_items.c.price, points_items.c.name, points_items.c.id)
        if active_only:
            query = query.where(points_items.c.active.is_(True))
        async with self._tx("listing the catalogue") as conn:
            return [_item(r) for r in await conn.execute(query)]

    # ---- redemption ----------------------------------------------------------------------------------------

    @staticmethod
    async def _replay(conn: AsyncConnection, key: str, request_hash: str) -> Redemption | None:
        row = (await conn.execute(
            select(points_redemptions).where(points_redemptions.c.idempotency_key == key)
        )).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise IdempotencyConflict(key)
        return _redemption(row, replayed=True)

    async def redeem(self, person_id: str, item_id: str, quantity: int, idempotency_key: str,
                     request_hash: str) -> Redemption:
        key = _key(idempotency_key)
        qty = _whole("quantity", quantity, 1, MAX_QUANTITY)
        if not isinstance(request_hash, str) or not _HASH.fullmatch(request_hash):
            raise InvalidRecord("request_hash must be a SHA-256 hex digest (points.store.request_hash)")
        account = ledger.person_account(person_id)
        try:
            async with self._tx(f"redeeming for person {person_id!r}", write=True) as conn:
                await self._ensure_accounts(conn, [account])  # NotFound for an unknown person
                await self._lock_accounts(conn, [account])
                replay = await self._replay(conn, key, request_hash)
                if replay is not None:
                    return replay
                item = (await conn.execute(
                    select(points_items).where(points_items.c.id == item_id).with_for_update()
                )).first()
                if item is None:
                    raise NotFound("points item", item_id)
                if not item.active:
                    raise ItemUnavailable(item_id)
                cost = int(item.price) * qty
                balance = await self._balance(conn, account)
                if balance < cost:
                    raise InsufficientPoints(person_id, balance, cost)
                if int(item.stock) < qty:
                    raise OutOfStock(item_id, int(item.stock), qty)
                redemption_id = _new_id()
                await self._ensure_accounts(conn, [REDEMPTIONS])
                entry = await self._insert_entry(conn, NewEntry(
                    reason="redemption", postings=ledger.redemption(person_id, cost),
                    idempotency_key=f"redemption:{redemption_id}", reference=item_id,
                ), ledger.redemption(person_id, cost))
                done = await conn.execute(update(points_items)
                                          .where(points_items.c.id == item_id, points_items.c.stock >= qty)
                                          .values(stock=points_items.c.stock - qty, updated_at=_now()))
                if done.rowcount != 1:  # cannot happen under the lock; the CHECK would refuse it anyway
                    raise OutOfStock(item_id, int(item.stock), qty)
                result = Redemption(redemption_id, key, person_id, item_id, qty, cost, entry.id, balance - cost,
                                    int(item.stock) - qty, entry.created_at)
                await conn.execute(points_redemptions.insert().values(
                    id=result.id, idempotency_key=key, person_id=person_id, item_id=item_id, quantity=qty,
                    request_hash=request_hash, entry_id=entry.id,
                    result=json.dumps(result.result(), sort_keys=True, separators=(",", ":")),
                    created_at=result.created_at,
                ))
                await append_in(conn, AuditEvent(person_id, PERSON_ROLE, "points.redeem", f"person:{person_id}", {
                    "redemption_id": result.id, "item_id": item_id, "quantity": qty, "points": cost,
                    "entry_id": entry.id,
                }))
                return result
        except RecordsError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        # The same key committed meanwhile under another person's lock: answer as a replay would.
        async with self._tx(f"re-reading redemption {key!r}") as conn:
            replay = await self._replay(conn, key, request_hash)
        if replay is None:
            raise RecordsError(f"redemption {key!r} failed on a database constraint; try again")
        return replay

    async def redemptions_of(self, person_id: str) -> list[Redemption]:
        async with self._tx(f"reading the redemptions of person {person_id!r}") as conn:
            await self._require_person(conn, person_id)
            rows = await conn.execute(select(points_redemptions).where(points_redemptions.c.person_id == person_id)
                                      .order_by(points_redemptions.c.created_at, points_redemptions.c.id))
            return [_redemption(r) for r in rows]

    # ---- the facts cursor ----------------------------------------------------------------------------------

    async def get_cursor(self, name: str) -> int:
        async with self._tx(f"reading cursor {name!r}") as conn:
            seq = (await conn.execute(select(points_cursor.c.seq).where(points_cursor.c.name == name))).scalar()
        return int(seq or 0)

    async def set_cursor(self, name: str, seq: int) -> None:
        """Move the cursor forward only (a slower follower never moves it back)."""
        dialect = postgresql if self._url.get_backend_name() == "postgresql" else sqlite
        async with self._tx(f"moving cursor {name!r}", write=True) as conn:
            stmt = dialect.insert(points_cursor).values(name=name, seq=seq)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["name"], set_={"seq": func.max(points_cursor.c.seq, seq)}
                if dialect is sqlite else {"seq": func.greatest(points_cursor.c.seq, seq)},
            ))

    # ---- person links (revocable, like the integrity access links) ---------------------------------------------

    async def record_person_token(self, token_hash: str, person_id: str, issued_by: str, issued_at: datetime,
                                  expires_at: datetime, *, audit: AuditEvent | None = None) -> None:
        async with self._tx("recording a points link", write=True) as conn:
            await self._require_person(conn, person_id)
            await conn.execute(points_person_tokens.insert().values(
                token_hash=token_hash, person_id=person_id, issued_by=issued_by, issued_at=issued_at,
                expires_at=expires_at))
            if audit is not None:
                await append_in(conn, audit)

    async def person_token(self, token_hash: str) -> PersonToken | None:
        async with self._tx("checking a points link") as conn:
            row = (await conn.execute(select(points_person_tokens).where(
                points_person_tokens.c.token_hash == token_hash))).first()
        return None if row is None else PersonToken(row.person_id, row.expires_at, row.revoked_at)

    async def revoke_person_tokens(self, person_id: str, revoked_by: str, now: datetime, *,
                                   audit: AuditEvent | None = None) -> int:
        async with self._tx("withdrawing points links", write=True) as conn:
            await self._require_person(conn, person_id)
            changed = await conn.execute(update(points_person_tokens).where(
                points_person_tokens.c.person_id == person_id, points_person_tokens.c.revoked_at.is_(None),
                points_person_tokens.c.expires_at > now,
            ).values(revoked_at=now, revoked_by=revoked_by))
            revoked = int(changed.rowcount or 0)
            if revoked and audit is not None:
                await append_in(conn, audit_with(audit, revoked=revoked))
        return revoked


def audit_with(event: AuditEvent, **details: Any) -> AuditEvent:
    """`event` with ids added to its details (the store knows ids the caller did not have yet)."""
    return AuditEvent(event.actor_id, event.actor_role, event.action, event.subject, {**event.details, **details})
