"""The points store interface: post ledger entries, keep the catalogue, redeem. `points.store_sql` implements it.

Unknown persons and items raise docket.court.NotFound, bad values InvalidRecord, as the register does, so the API
translates them the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from docket.audit import AuditEvent
from docket.records import RecordsError
from points.ledger import Posting


class IdempotencyConflict(RecordsError):
    """The idempotency key was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request; nothing was changed. "
                         "Send a new key for a new request, or repeat the first request exactly to get its result")
        self.key = key


class InsufficientPoints(RecordsError):
    def __init__(self, person_id: str, balance: int, needed: int) -> None:
        super().__init__(f"person {person_id!r} has {balance} points, {needed} are needed; nothing was redeemed")
        self.person_id = person_id
        self.balance = balance
        self.needed = needed


class OutOfStock(RecordsError):
    def __init__(self, item_id: str, stock: int, wanted: int) -> None:
        super().__init__(f"item {item_id!r} has {stock} left, {wanted} were asked for; nothing was redeemed")
        self.item_id = item_id
        self.stock = stock
        self.wanted = wanted


class ItemUnavailable(RecordsError):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id!r} is withdrawn from the catalogue; choose another item")
        self.item_id = item_id


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to post. `idempotency_key` makes posting it twice harmless (the first one stands)."""

    reason: str
    postings: Sequence[Posting]
    idempotency_key: str
    reference: str | None = None
    reversal_of: str | None = None
    rules_version: str | None = None
    actor_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    reason: str
    postings: tuple[Posting, ...]
    idempotency_key: str
    reference: str | None
    reversal_of: str | None
    rules_version: str | None
    actor_id: str | None
    created_at: datetime

    def amount_for(self, account: str) -> int:
        return sum(p.amount for p in self.postings if p.account == account)


@dataclass(frozen=True, slots=True)
class NewItem:
    name: str
    price: int  # points per unit
    stock: int
    description: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    name: str
    description: str
    price: int
    stock: int
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Redemption:
    """The stored result of a redemption; `replayed` is True when it is returned again for a repeated key."""

    id: str
    idempotency_key: str
    person_id: str
    item_id: str
    quantity: int
    points: int
    entry_id: str
    balance_after: int
    stock_after: int
    created_at: datetime
    replayed: bool = False

    def result(self) -> dict[str, Any]:
        return {"redemption_id": self.id, "person_id": self.person_id, "item_id": self.item_id,
                "quantity": self.quantity, "points": self.points, "entry_id": self.entry_id,
                "balance_after": self.balance_after, "stock_after": self.stock_after}


@dataclass(frozen=True, slots=True)
class Totals:
    """Staff's view: the whole exchange in numbers, no person's details."""

    issued: int  # credited to persons, net of reversals
    redeemed: int
    outstanding: int  # held by persons now
    accounts: int  # persons with an account
    entries: int
    redemptions: int
    by_reason: Mapping[str, int] = field(default_factory=dict)  # net points per reason


def request_hash(person_id: str, item_id: str, quantity: int) -> str:
    """SHA-256 of the canonical request: a replayed key must come with the same person, item and quantity."""
    body = json.dumps({"person_id": person_id, "item_id": item_id, "quantity": quantity}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PersonToken:
    """An issued points link as the register keeps it: never the token, only whose it is and its life."""

    person_id: str
    expires_at: datetime
    revoked_at: datetime | None


@runtime_checkable
class PointsStore(Protocol):
    async def post(self, entry: NewEntry, *, audit: AuditEvent | None = None) -> tuple[Entry, bool]:
        """Post atomically; (entry, True) when new. The same key again returns the stored entry and False;
        the same key with different postings raises IdempotencyConflict. Person accounts must be known persons."""
        ...

    async def entries_of(self, person_id: str) -> list[Entry]:
        """Every entry touching the person's account, oldest first (NotFound for an unknown person)."""
        ...

    async def balance(self, person_id: str) -> int: ...

    async def totals(self) -> Totals: ...

    async def add_item(self, item: NewItem, *, audit: AuditEvent | None = None) -> Item: ...

    async def update_item(self, item_id: str, *, stock: int | None = None, price: int | None = None,
                          active: bool | None = None, audit: AuditEvent | None = None) -> Item: ...

    async def get_item(self, item_id: str) -> Item: ...

    async def list_items(self, *, active_only: bool = True) -> list[Item]: ...

    async def redeem(self, person_id: str, item_id: str, quantity: int, idempotency_key: str,
                     request_hash: str) -> Redemption:
        """In one transaction: lock the person's account and the item, check balance ≥ price × quantity and
        stock ≥ quantity, post the debit, decrement the stock, store the result and audit it (`points.redeem`,
        ids only). A replay (same key, same hash) returns the stored result with `replayed=True`; the same key
        with another hash raises IdempotencyConflict. Refusals (InsufficientPoints, OutOfStock, NotFound,
        ItemUnavailable) change nothing and are not stored, so the key can be used again once the refusal's
        cause is gone."""
        ...

    async def redemptions_of(self, person_id: str) -> list[Redemption]: ...

    async def get_cursor(self, name: str) -> int: ...

    async def record_person_token(self, token_hash: str, person_id: str, issued_by: str, issued_at: datetime,
                                  expires_at: datetime, *, audit: AuditEvent | None = None) -> None:
        """Keep an issued points link (its digest only), audited in the same transaction."""
        ...

    async def person_token(self, token_hash: str) -> PersonToken | None: ...

    async def revoke_person_tokens(self, person_id: str, revoked_by: str, now: datetime, *,
                                   audit: AuditEvent | None = None) -> int:
        """Withdraw every unexpired, unrevoked link of the person; how many (audited only when any)."""
        ...

    async def set_cursor(self, name: str, seq: int) -> None: ...
