"""petitions: video petitions (接诉即办) — the register, attachments, events, per-court yearly numbers

Revision ID: 0017_petitions
Revises: 0016_foundations
Create Date: 2026-12-07

`petitions` holds each petition (number = court + year + gap-free seq from `petition_counters`, the keyed hash of
the citizen's status code, category, class, state, deadline, handler, reply, rating); `petition_attachments` the
recorded clips (rows of the shared `clips` table) and photos; `petition_events` the history people see (moves,
contact log, reminders, escalations). `source_call_id` is left for a connect-a-judge call made into a petition.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_petitions"
down_revision: str | None = "0016_foundations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "petition_counters",
        sa.Column("court", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("court", "year", name=op.f("pk_petition_counters")),
    )
    op.create_table(
        "petitions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("court", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("klass", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("filed_at", _TS, nullable=False),
        sa.Column("filed_by", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("source_call_id", sa.String(64), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("cycle_started_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("handler_id", sa.String(64), nullable=True),
        sa.Column("handler_kind", sa.String(32), nullable=True),
        sa.Column("handler_unit", sa.Text(), nullable=True),
        sa.Column("first_contact_at", _TS, nullable=True),
        sa.Column("replied_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("reply_text", sa.Text(), nullable=True),
        sa.Column("reply_clip_id", sa.String(64), nullable=True),
        sa.Column("rating", sa.String(32), nullable=True),
        sa.Column("rated_at", _TS, nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_petitions_station_id_stations")),
        sa.ForeignKeyConstraint(["handler_id"], ["staff_accounts.id"],
                                name=op.f("fk_petitions_handler_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petitions")),
        sa.UniqueConstraint("court", "year", "seq", name=op.f("uq_petitions_court_year_seq")),
    )
    for column in ("category", "status", "due_at", "due_on", "handler_id"):
        op.create_index(op.f(f"ix_petitions_{column}"), "petitions", [column])
    op.create_table(
        "petition_attachments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("petition_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("clip_id", sa.String(64), nullable=True),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("added_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petitions.id"],
                                name=op.f("fk_petition_attachments_petition_id_petitions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petition_attachments")),
        sa.UniqueConstraint("clip_id", name=op.f("uq_petition_attachments_clip_id")),
        sa.UniqueConstraint("object_key", name=op.f("uq_petition_attachments_object_key")),
    )
    op.create_index(op.f("ix_petition_attachments_petition_id"), "petition_attachments", ["petition_id"])
    op.create_table(
        "petition_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("petition_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["petition_id"], ["petitions.id"],
                                name=op.f("fk_petition_events_petition_id_petitions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petition_events")),
        sa.UniqueConstraint("petition_id", "position", name=op.f("uq_petition_events_petition_id_position")),
    )
    op.create_index(op.f("ix_petition_events_petition_id"), "petition_events", ["petition_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_petition_events_petition_id"), table_name="petition_events")
    op.drop_table("petition_events")
    op.drop_index(op.f("ix_petition_attachments_petition_id"), table_name="petition_attachments")
    op.drop_table("petition_attachments")
    for column in ("category", "status", "due_at", "due_on", "handler_id"):
        op.drop_index(op.f(f"ix_petitions_{column}"), table_name="petitions")
    op.drop_table("petitions")
    op.drop_table("petition_counters")
