"""foundations: working-day overrides, durable jobs, the notification inbox, resumable clip uploads and clips

Revision ID: 0016_foundations
Revises: 0013_integrity_evidence
Create Date: 2026-12-07

Shared machinery for video petitions, the asynchronous trial and the stations (docket/tables_foundations.py):
the administrators' working-day overrides and completed years (docket/workdays.py), the one durable scheduler's jobs
(docket/jobs.py), the in-app inbox (docket/notifications.py), and recorded clips with their resumable uploads
(recordings/clips.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_foundations"
down_revision: str | None = "0013_integrity_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workday_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workday", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_workday_overrides")),
    )
    op.create_table(
        "workday_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_workday_years")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'running', 'done', 'parked', 'cancelled')",
                           name=op.f("ck_jobs_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_jobs_idempotency_key")),
    )
    op.create_index(op.f("ix_jobs_state_due_at"), "jobs", ["state", "due_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("read_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
    )
    op.create_index(op.f("ix_notifications_recipient_created_at"), "notifications", ["recipient", "created_at"])
    op.create_table(
        "clip_uploads",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("declared_size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("multipart_id", sa.Text(), nullable=True),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Text(), nullable=False),
        sa.Column("pending", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("clip_id", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.CheckConstraint("state IN ('open', 'complete', 'refused', 'aborted')",
                           name=op.f("ck_clip_uploads_state")),
        sa.CheckConstraint("committed >= 0 AND committed <= declared_size",
                           name=op.f("ck_clip_uploads_committed_in_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_uploads")),
        sa.UniqueConstraint("object_key", name=op.f("uq_clip_uploads_object_key")),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("container", sa.String(16), nullable=False),
        sa.Column("video_codec", sa.String(16), nullable=True),
        sa.Column("audio_codec", sa.String(16), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        sa.UniqueConstraint("upload_id", name=op.f("uq_clips_upload_id")),
        sa.UniqueConstraint("object_key", name=op.f("uq_clips_object_key")),
    )
    op.create_index(op.f("ix_clips_owner"), "clips", ["owner"])


def downgrade() -> None:
    op.drop_index(op.f("ix_clips_owner"), table_name="clips")
    op.drop_table("clips")
    op.drop_table("clip_uploads")
    op.drop_index(op.f("ix_notifications_recipient_created_at"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_jobs_state_due_at"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("workday_years")
    op.drop_table("workday_overrides")
