"""Tables of migration 0016_foundations: shared machinery the petitions, the asynchronous trial and the stations use.

* `workday_overrides`, `workday_years`: the administrators' working-day decisions (docket/workdays.py).
* `jobs`: the one durable scheduler's jobs (docket/jobs.py): due time, kind, JSON payload, a unique idempotency key.
* `notifications`: the in-app inbox (docket/notifications.py): a stable code and parameters, never sentences.
* `clip_uploads`, `clips`: resumable recorded-clip uploads and the verified clips they became (recordings/clips.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Date, Index, Integer, String, Table, Text

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

KEY_LENGTH = 200
"""A job's idempotency key, e.g. petition-reminder:<petition id>:<deadline>."""
OWNER_LENGTH = 128
"""Who a clip or a notification belongs to: staff:<id>, person:<id>, petition:<id> ... (ids only)."""
OBJECT_KEY_LENGTH = 255

workday_overrides = Table(
    "workday_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("workday", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(ID_LENGTH), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

workday_years = Table(
    "workday_years",
    metadata,
    # A year the administrators declared complete: all its holidays and 调休 days are entered as overrides.
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(ID_LENGTH), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("kind", String(CODE_LENGTH), nullable=False),
    Column("idempotency_key", String(KEY_LENGTH), nullable=False, unique=True),
    Column("payload", Text, nullable=False),  # canonical JSON
    Column("state", String(16), nullable=False),  # pending | running | done | parked | cancelled
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(ID_LENGTH), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    CheckConstraint("state IN ('pending', 'running', 'done', 'parked', 'cancelled')", name="state"),
    Index(None, "state", "due_at"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("recipient", String(OWNER_LENGTH), nullable=False),  # staff:<id> or person:<id>
    Column("code", String(CODE_LENGTH), nullable=False),
    Column("params", Text, nullable=False),  # canonical JSON object
    Column("subject", String(OWNER_LENGTH), nullable=True),  # what it is about, e.g. petition:<id>
    Column("idempotency_key", String(KEY_LENGTH), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    Index(None, "recipient", "created_at"),
)

clip_uploads = Table(
    "clip_uploads",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("purpose", String(CODE_LENGTH), nullable=False),  # which authorizer admitted it: petition, async_trial...
    Column("owner", String(OWNER_LENGTH), nullable=False),
    Column("declared_size", BigInteger, nullable=False),
    Column("content_type", String(CODE_LENGTH), nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("object_key", String(OBJECT_KEY_LENGTH), nullable=False, unique=True),
    Column("multipart_id", Text, nullable=True),  # the object store's multipart upload id
    Column("committed", BigInteger, nullable=False),  # bytes durably stored, in order: the resume offset
    Column("parts", Text, nullable=False),  # JSON [[number, etag, size], ...] uploaded parts
    Column("pending", Text, nullable=False),  # JSON [[offset, size], ...] small chunks not yet in a part
    Column("state", String(16), nullable=False),  # open | complete | refused | aborted
    Column("error", String(CODE_LENGTH), nullable=True),
    Column("clip_id", String(ID_LENGTH), nullable=True),
    Column("created_by", String(ID_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    CheckConstraint("state IN ('open', 'complete', 'refused', 'aborted')", name="state"),
    CheckConstraint("committed >= 0 AND committed <= declared_size", name="committed_in_range"),
)

clips = Table(
    "clips",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("upload_id", String(ID_LENGTH), nullable=False, unique=True),
    Column("purpose", String(CODE_LENGTH), nullable=False),
    Column("owner", String(OWNER_LENGTH), nullable=False, index=True),
    Column("object_key", String(OBJECT_KEY_LENGTH), nullable=False, unique=True),
    Column("content_type", String(CODE_LENGTH), nullable=False),
    Column("container", String(16), nullable=False),  # webm | mp4
    Column("video_codec", String(16), nullable=True),
    Column("audio_codec", String(16), nullable=True),
    Column("duration_ms", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("audit_seq", BigInteger, nullable=False),  # the audit entry that chains this clip's SHA-256
    Column("created_by", String(ID_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
