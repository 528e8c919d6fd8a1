"""Tables of migration 0009_integrity: litigation facts and the integrity code (个人诚信码); same metadata as
docket.tables. Migration 0013_integrity_evidence adds the evidence files of appeals and the revocation of person
access links.

Kept apart so the work on them does not collide. Facts are append-only (a correction is a new fact); agency
API keys and person access tokens are stored only as SHA-256 digests of random secrets, so a copy of these tables
lets nobody query or log in. Personal data stays in `persons`: these tables refer to people by id.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

SOURCE_LENGTH = 64
SOURCE_REF_LENGTH = 128

litigation_facts = Table(
    "litigation_facts",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    # Gap-free commit order (max + 1 under a unique constraint), so followers of facts_after never skip one.
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("source", String(SOURCE_LENGTH), nullable=False),
    Column("source_ref", String(SOURCE_REF_LENGTH), nullable=False),
    Column("case_number", String(ID_LENGTH), nullable=True),
    Column("details", Text, nullable=False),  # canonical JSON object
    Column("expires_on", Date, nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("source", "source_ref"),  # the idempotency key
)

integrity_agencies = Table(
    "integrity_agencies",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", Text, nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated scope codes, sorted
    Column("key_hash", String(HASH_LENGTH), nullable=False, unique=True),  # SHA-256 of a 256-bit random key
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
)

integrity_queries = Table(
    "integrity_queries",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("agency_id", String(ID_LENGTH), ForeignKey("integrity_agencies.id"), nullable=False, index=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("scope", String(CODE_LENGTH), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("colour", String(CODE_LENGTH), nullable=True),  # null: a minor, not scored
    Column("at", UtcDateTime, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
)

integrity_appeals = Table(
    "integrity_appeals",
    metadata,
    # An appeal (异议) disputes facts; a repair request (信用修复) asks that performed obligations end a reason early.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list of short texts; files are in integrity_evidence
    Column("fact_ids", Text, nullable=False),  # JSON list: the facts disputed / to be set aside
    Column("status", String(CODE_LENGTH), nullable=False, index=True),
    Column("filed_at", UtcDateTime, nullable=False),
    Column("decided_by", String(ID_LENGTH), nullable=True),
    Column("decision", Text, nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
)

integrity_codes = Table(
    "integrity_codes",
    metadata,
    # Snapshots of computed codes: the person's history, and what each recomputation (and why) produced.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("colour", String(CODE_LENGTH), nullable=True),
    Column("score", Integer, nullable=True),
    Column("reasons", Text, nullable=False),  # JSON list of reasons
    Column("ruleset_version", String(CODE_LENGTH), nullable=False),
    Column("facts_seq", BigInteger, nullable=False),  # the highest fact seq considered
    Column("trigger", String(ID_LENGTH), nullable=False),
    Column("computed_at", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=False),
)

integrity_access_tokens = Table(
    "integrity_access_tokens",
    metadata,
    # One-time-issued access links a clerk hands a person so they can see their own code without an account.
    Column("token_hash", String(HASH_LENGTH), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("issued_by", String(ID_LENGTH), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # Set when staff withdraw the person's links (a lost phone, a link sent to the wrong person): refused from then.
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(ID_LENGTH), nullable=True),
)

EVIDENCE_KEY_LENGTH = 255

integrity_evidence = Table(
    "integrity_evidence",
    metadata,
    # Files a person attached to an appeal or repair request. The bytes are in the object store under
    # `object_key` (ids only); the name is a cleaned display name; the type was read from the bytes.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("appeal_id", String(ID_LENGTH), ForeignKey("integrity_appeals.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),  # the order the person attached them: 0, 1, ...
    Column("object_key", String(EVIDENCE_KEY_LENGTH), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("media_type", String(CODE_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
    UniqueConstraint("appeal_id", "position"),
)
