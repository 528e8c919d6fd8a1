"""Tables of migration 0017_petitions: video petitions (接诉即办); same metadata as docket.tables.

Personal data (the citizen's name, phone and what they wrote) stays in these rows and never reaches the audit log,
which refers to a petition by id. The status-check code is stored only as a keyed hash (petitions.codes). Media
(recorded clips, photos) lives in the object store: clips through the shared clip mechanism (table `clips`), photos
by object key with their SHA-256.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

OBJECT_KEY_LENGTH = 255

petition_counters = Table(
    "petition_counters",
    metadata,
    # The last petition number given per court and year: numbers are gap-free and human-readable (2026-000123).
    Column("court", String(CODE_LENGTH), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", Integer, nullable=False),
)

petitions = Table(
    "petitions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("court", String(CODE_LENGTH), nullable=False),
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("code_hash", String(HASH_LENGTH), nullable=False),
    Column("category", String(CODE_LENGTH), nullable=False, index=True),
    Column("klass", String(CODE_LENGTH), nullable=False),
    Column("status", String(CODE_LENGTH), nullable=False, index=True),
    Column("description", Text, nullable=False),
    Column("contact_name", Text, nullable=False),
    Column("contact_phone", String(CODE_LENGTH), nullable=False),
    Column("filed_at", UtcDateTime, nullable=False),
    Column("filed_by", String(ID_LENGTH), nullable=False),  # "citizen", or the staff account of a station operator
    # Migration 0022: the filing session a citizen filed in (its random id), for the daily filing limit.
    Column("filing_session", String(ID_LENGTH), nullable=True, index=True),
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=True),
    # A connect-a-judge call (stations/) this petition was made from; not a foreign key: stations/ owns calls.
    Column("source_call_id", String(ID_LENGTH), nullable=True),
    Column("cycle", Integer, nullable=False),  # 0, or 1 after the one reopening
    Column("cycle_started_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False, index=True),
    Column("due_on", Date, nullable=False, index=True),  # the court-local last day, for the board's filters
    Column("handler_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), nullable=True, index=True),
    Column("handler_kind", String(CODE_LENGTH), nullable=True),
    Column("handler_unit", Text, nullable=True),  # a department's name when handler_kind is department
    Column("first_contact_at", UtcDateTime, nullable=True),
    Column("replied_at", UtcDateTime, nullable=True),
    Column("outcome", String(CODE_LENGTH), nullable=True),
    Column("resolution", Text, nullable=True),
    Column("reply_text", Text, nullable=True),
    Column("reply_clip_id", String(ID_LENGTH), nullable=True),  # clips.id
    Column("rating", String(CODE_LENGTH), nullable=True),
    Column("rated_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("court", "year", "seq"),
)

petition_attachments = Table(
    "petition_attachments",
    metadata,
    # What came with the filing or the reply: a recorded clip (clips.id) or a photo (its own object).
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("petition_id", String(ID_LENGTH), ForeignKey("petitions.id"), nullable=False, index=True),
    Column("role", String(CODE_LENGTH), nullable=False),  # filing | reply
    Column("kind", String(CODE_LENGTH), nullable=False),  # clip | photo
    Column("clip_id", String(ID_LENGTH), nullable=True, unique=True),
    Column("object_key", String(OBJECT_KEY_LENGTH), nullable=False, unique=True),
    Column("media_type", String(CODE_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
)

petition_events = Table(
    "petition_events",
    metadata,
    # The petition's history as people see it: every move, the handler's contact log, reminders and escalations.
    # Notes and reasons (which may hold personal details) stay here; the audit entry of the same transaction holds
    # ids and codes only and points here by `audit_seq`.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("petition_id", String(ID_LENGTH), ForeignKey("petitions.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("actor_role", String(CODE_LENGTH), nullable=False),
    Column("actor_id", String(ID_LENGTH), nullable=False),
    Column("status", String(CODE_LENGTH), nullable=False),  # the status after the event
    Column("details", Text, nullable=False),  # JSON object
    Column("audit_seq", BigInteger, nullable=True),
    UniqueConstraint("petition_id", "position"),
)

petition_calls = Table(
    "petition_calls",
    metadata,
    # Migration 0022_petition_calls: the handler's recorded video call with the citizen (petitions/calls.py). The
    # recording is the room recorder's manifest chain under this row's id (`hearing verify-recording <id>`).
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("petition_id", String(ID_LENGTH), ForeignKey("petitions.id"), nullable=False, index=True),
    Column("room_id", String(ID_LENGTH), nullable=False, unique=True),
    Column("handler_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), nullable=False),
    Column("state", String(CODE_LENGTH), nullable=False),  # live | ended
    Column("started_at", UtcDateTime, nullable=False),
    Column("citizen_joined_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("recorded", Boolean, nullable=False),
)
