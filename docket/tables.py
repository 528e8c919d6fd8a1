"""The SQL schema as SQLAlchemy Core tables: the model the migrations must produce.

The migrations in docket/migrations/versions/ are the source of truth for what a database holds;
these tables are what the code queries. tests/test_records.py compares the two (Alembic's
`compare_metadata` against a migrated database) so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Dialect, ForeignKey, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: migrations can drop or alter a constraint by name on every backend,
# and SQLite's batch mode (which rebuilds tables) keeps the same names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID_LENGTH = 64
"""Longest room id, token id (jti) or participant id; enforced by SqlRecords so SQLite refuses what PostgreSQL would."""


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out, on every backend.

    PostgreSQL stores `timestamptz` and returns aware values; SQLite has no time zone type and returns
    naive ones. Storing UTC and re-attaching UTC on the way out makes both behave the same. Naive
    datetimes are refused on the way in: their meaning depends on the machine's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        # SQLite's DATETIME text format has no offset; UTC is implied by this type.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


rooms = Table(
    "rooms",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("title", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Added by 0002_tokens; not yet used by the Records interface.
    Column("closed_at", UtcDateTime, nullable=True),
)

issued_tokens = Table(
    "issued_tokens",
    metadata,
    Column("jti", String(ID_LENGTH), primary_key=True),
    Column("room_id", String(ID_LENGTH), ForeignKey("rooms.id"), nullable=False, index=True),
    Column("participant_id", String(ID_LENGTH), nullable=False),
    Column("role", Text, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoke_reason", Text, nullable=True),
)
