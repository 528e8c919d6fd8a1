"""Tables of migration 0010_points: the points exchange (多多评); same metadata as docket.tables.

A double-entry ledger: accounts (one per person, plus the court's system accounts), append-only journal entries and
their postings (each entry's postings sum to zero; balances are sums, never stored). The catalogue holds items with
stock (CHECK stock >= 0, so even a buggy writer cannot oversell), and redemptions keep the client's idempotency key
with the hash of its request and the result, so a replay returns the first answer. Migration 0012_ledger_guards adds
triggers that refuse UPDATE and DELETE of entries and postings (and, on PostgreSQL, check that each entry balances).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, Text

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

ACCOUNT_LENGTH = 80
"""person:<person id> or a system account name (points.ledger)."""
KEY_LENGTH = 128
"""An idempotency key: the client's for redemptions, credit:<fact id> / reverse:<fact id> for the rules' entries."""

points_accounts = Table(
    "points_accounts",
    metadata,
    Column("id", String(ACCOUNT_LENGTH), primary_key=True),
    # The person a person account belongs to; NULL for system accounts (court:rewards, court:redemptions).
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

points_entries = Table(
    "points_entries",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("reason", String(CODE_LENGTH), nullable=False),
    Column("reference", String(ID_LENGTH), nullable=True),  # the fact id, item id, ... the entry is about
    Column("idempotency_key", String(KEY_LENGTH), nullable=False, unique=True),
    # A reversal names the entry it compensates; unique, so an entry is reversed at most once.
    Column("reversal_of", String(ID_LENGTH), ForeignKey("points_entries.id"), nullable=True, unique=True),
    Column("rules_version", String(CODE_LENGTH), nullable=True),
    Column("actor_id", String(ID_LENGTH), nullable=True),  # staff id for corrections; NULL when the rules posted
    Column("created_at", UtcDateTime, nullable=False),
)

points_postings = Table(
    "points_postings",
    metadata,
    Column("entry_id", String(ID_LENGTH), ForeignKey("points_entries.id"), primary_key=True),
    Column("account_id", String(ACCOUNT_LENGTH), ForeignKey("points_accounts.id"), primary_key=True, index=True),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="amount_nonzero"),
)

points_items = Table(
    "points_items",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("price > 0", name="price_positive"),
    CheckConstraint("stock >= 0", name="stock_nonnegative"),
)

points_redemptions = Table(
    "points_redemptions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("idempotency_key", String(KEY_LENGTH), nullable=False, unique=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("item_id", String(ID_LENGTH), ForeignKey("points_items.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("request_hash", String(HASH_LENGTH), nullable=False),
    Column("entry_id", String(ID_LENGTH), ForeignKey("points_entries.id"), nullable=False, unique=True),
    Column("result", Text, nullable=False),  # canonical JSON of the answer given, returned again on replay
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
)

points_cursor = Table(
    "points_cursor",
    metadata,
    # How far each follower of the facts register got (facts_after(seq)), one row per name: `facts` for
    # PointsService.follow_facts, `follower` for the app's docket.facts_follower (integrity codes and points).
    Column("name", String(CODE_LENGTH), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

points_person_tokens = Table(
    "points_person_tokens",
    metadata,
    # Migration 0020_hardening: each points link issued to a person, by the SHA-256 of its token (never the token),
    # so staff can withdraw a person's links before they expire — the integrity access links' mechanism.
    Column("token_hash", String(HASH_LENGTH), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("issued_by", String(ID_LENGTH), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(ID_LENGTH), nullable=True),
)
