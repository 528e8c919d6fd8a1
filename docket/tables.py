"""The SQL schema as SQLAlchemy Core tables: the model the migrations must produce.

The migrations in docket/migrations/versions/ are the source of truth for what a database holds;
these tables are what the code queries. tests/test_records.py compares the two (Alembic's
`compare_metadata` against a migrated database) so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false
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


# ---- the court register (0003_court): stations, persons, cases, hearings, participants, the audit log ----

CODE_LENGTH = 32
"""Longest enum-like value stored as text: a hearing kind, role, state, status, side or method."""
HASH_LENGTH = 64
"""A SHA-256 hex digest."""

stations = Table(
    "stations",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("name", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

persons = Table(
    "persons",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", Text, nullable=False),
    # Only a salted slow hash of the identity-document number and its last four characters (docket.id_documents).
    Column("id_document_hash", Text, nullable=True),
    Column("id_document_last4", String(4), nullable=True, index=True),
    Column("birth_date", Date, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("case_number", String(ID_LENGTH), nullable=False, unique=True),
    Column("cause", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

case_parties = Table(
    "case_parties",
    metadata,
    Column("case_id", String(ID_LENGTH), ForeignKey("cases.id"), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), primary_key=True, index=True),
    Column("side", String(CODE_LENGTH), nullable=False),
)

hearings = Table(
    "hearings",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("case_id", String(ID_LENGTH), ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("scheduled_start", UtcDateTime, nullable=False, index=True),
    Column("scheduled_end", UtcDateTime, nullable=False),
    Column("state", String(CODE_LENGTH), nullable=False),
    # The signalling room; created when the hearing opens, so not a foreign key to rooms.
    Column("room_id", String(ID_LENGTH), nullable=True, unique=True),
    Column("recorded", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("state_changed_at", UtcDateTime, nullable=False),
    # A locked room admits nobody new (migration 0007).
    Column("locked", Boolean, nullable=False, server_default=false()),
)

panel_members = Table(
    "panel_members",
    metadata,
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), primary_key=True),
    Column("position", Integer, nullable=False),  # 0 presides
    UniqueConstraint("hearing_id", "position"),
)

participants = Table(
    "participants",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("role", String(CODE_LENGTH), nullable=False),
    Column("status", String(CODE_LENGTH), nullable=False),
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=True),
    Column("token_jti", String(ID_LENGTH), ForeignKey("issued_tokens.jti"), nullable=True, unique=True),
    Column("verification_method", String(CODE_LENGTH), nullable=True),
    Column("verified_by", String(ID_LENGTH), nullable=True),
    Column("verified_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("hearing_id", "person_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", String(ID_LENGTH), nullable=False),
    Column("actor_role", String(CODE_LENGTH), nullable=False),
    Column("action", String(ID_LENGTH), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON, ids only
    # Unique: two entries can never claim the same predecessor, so even a writer that skipped the lock cannot fork.
    Column("prev_hash", String(HASH_LENGTH), nullable=False, unique=True),
    Column("hash", String(HASH_LENGTH), nullable=False, unique=True),
)

audit_head = Table(
    "audit_head",
    metadata,
    # One row (id 1): the chain's last seq and hash. Appenders lock it, and verify() compares the log's tail
    # with it, so deleting the newest entries is detected too.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(HASH_LENGTH), nullable=False),
)

private_rooms = Table(
    "private_rooms",
    metadata,
    # A hearing's private room (migration 0008): a caucus (mediator + one side, counsel + client) or the panel's
    # retiring room. Its signalling room is never recorded.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("room_id", String(ID_LENGTH), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("opened_by", String(ID_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_by", String(ID_LENGTH), nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
)

private_room_members = Table(
    "private_room_members",
    metadata,
    Column("private_room_id", String(ID_LENGTH), ForeignKey("private_rooms.id"), primary_key=True),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), primary_key=True),
)

# Tables of later migrations live in their own modules on the same metadata; importing them here keeps
# `metadata` complete for whoever imports this module (the drift test, the SQL adapters).
from docket import (  # noqa: E402, F401
    tables_async_trial,
    tables_exhibits,
    tables_facts_follower,
    tables_foundations,
    tables_integrity,
    tables_petitions,
    tables_points,
    tables_room_chat,
    tables_seat_codes,
    tables_staff,
    tables_stations,
    tables_transcripts,
)
