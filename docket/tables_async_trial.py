"""Tables of migration 0019_async_trial: the asynchronous trial (异步审理). Same metadata as docket.tables.

All append-only but for a stage's close mark. `async_consents` keeps every consent and withdrawal (a party's
position is their latest row). `async_answers` holds one sealed answer per (question, participant) — the unique
constraint is the database's refusal of a second submission — and its chain link `prev_hash`, unique per hearing, so
two answers can never both follow the same predecessor.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

async_consents = Table(
    "async_consents",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the hearing
    Column("given", Boolean, nullable=False),
    Column("method", String(CODE_LENGTH), nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(ID_LENGTH), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("hearing_id", "seq"),
)

async_stages = Table(
    "async_stages",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("visibility", String(CODE_LENGTH), nullable=False),
    Column("workdays", Integer, nullable=False),
    Column("opened_by", String(ID_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("closed_by", String(ID_LENGTH), nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    UniqueConstraint("hearing_id", "number"),
    UniqueConstraint("hearing_id", "kind"),
)

async_questions = Table(
    "async_questions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("stage_id", String(ID_LENGTH), ForeignKey("async_stages.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("addressees", Text, nullable=False),  # JSON list of participant ids
    Column("text", Text, nullable=False),
    Column("clip_id", String(ID_LENGTH), nullable=True),
    Column("clip_sha256", String(HASH_LENGTH), nullable=True),
    Column("posted_by", String(ID_LENGTH), nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
    UniqueConstraint("hearing_id", "number"),
)

async_extensions = Table(
    "async_extensions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("stage_id", String(ID_LENGTH), ForeignKey("async_stages.id"), nullable=False),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("granted_by", String(ID_LENGTH), nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
)

async_answers = Table(
    "async_answers",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("question_id", String(ID_LENGTH), ForeignKey("async_questions.id"), nullable=False),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # chain order within the hearing
    Column("text", Text, nullable=False),
    Column("clip_id", String(ID_LENGTH), nullable=True),
    Column("clip_sha256", String(HASH_LENGTH), nullable=True),
    Column("clip_size", BigInteger, nullable=True),
    Column("clip_media_type", String(CODE_LENGTH), nullable=True),
    Column("exhibit_ids", Text, nullable=False),  # JSON list
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("prev_hash", String(HASH_LENGTH), nullable=False),
    Column("hash", String(HASH_LENGTH), nullable=False),
    UniqueConstraint("question_id", "participant_id"),
    UniqueConstraint("hearing_id", "prev_hash"),
    UniqueConstraint("hearing_id", "seq"),
)
