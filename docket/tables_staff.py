"""Tables of migration 0004_staff: court staff accounts and their login sessions; same metadata as docket.tables.

Usernames are stored in their normalised form (docket.staff.normalise_username), so the unique constraint alone
makes them unique case-insensitively on both backends. Sessions are keyed by the SHA-256 of the token the client
holds: a copy of this table does not let anyone log in.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text

from docket.tables import HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("username", String(ID_LENGTH), nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    # The register's person (panel members are person ids); one account per person at most.
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=True, unique=True),
    Column("roles", Text, nullable=False),  # comma-separated staff role codes, sorted
    Column("password_hash", Text, nullable=False),  # argon2id, parameters inside the hash
    Column("failed_attempts", Integer, nullable=False),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(HASH_LENGTH), primary_key=True),
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)
