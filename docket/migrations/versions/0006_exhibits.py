"""evidence exhibits (电子质证): files, opinions, views

Revision ID: 0006_exhibits
Revises: 0005_transcripts
Create Date: 2026-11-25

Exhibits (the file is in the object store; the row says what it is, its SHA-256 and where it is), the
parties' opinions on them (append-only, numbered per participant), who viewed which (append-only), and the
presentation each hearing shows (one row per hearing, compare-and-set on its version).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_exhibits"
down_revision: str | None = "0005_transcripts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exhibits",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploader_role", sa.String(32), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_exhibits_hearing_id_hearings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibits")),
        sa.UniqueConstraint("object_key", name=op.f("uq_exhibits_object_key")),
    )
    op.create_index(op.f("ix_exhibits_hearing_id"), "exhibits", ["hearing_id"])
    op.create_table(
        "exhibit_opinions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("exhibit_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("stance", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["exhibit_id"], ["exhibits.id"], name=op.f("fk_exhibit_opinions_exhibit_id_exhibits")),
        sa.ForeignKeyConstraint(
            ["participant_id"], ["participants.id"], name=op.f("fk_exhibit_opinions_participant_id_participants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibit_opinions")),
        sa.UniqueConstraint(
            "exhibit_id", "participant_id", "revision",
            name=op.f("uq_exhibit_opinions_exhibit_id_participant_id_revision"),
        ),
    )
    op.create_table(
        "exhibit_views",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("exhibit_id", sa.String(64), nullable=False),
        sa.Column("viewer_id", sa.String(64), nullable=False),
        sa.Column("viewer_role", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["exhibit_id"], ["exhibits.id"], name=op.f("fk_exhibit_views_exhibit_id_exhibits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibit_views")),
    )
    op.create_index(op.f("ix_exhibit_views_exhibit_id"), "exhibit_views", ["exhibit_id"])
    op.create_table(
        "exhibit_presentations",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("exhibit_id", sa.String(64), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_by_role", sa.String(32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hearing_id"], ["hearings.id"], name=op.f("fk_exhibit_presentations_hearing_id_hearings")
        ),
        sa.ForeignKeyConstraint(
            ["exhibit_id"], ["exhibits.id"], name=op.f("fk_exhibit_presentations_exhibit_id_exhibits")
        ),
        sa.PrimaryKeyConstraint("hearing_id", name=op.f("pk_exhibit_presentations")),
    )


def downgrade() -> None:
    op.drop_table("exhibit_presentations")
    op.drop_index(op.f("ix_exhibit_views_exhibit_id"), table_name="exhibit_views")
    op.drop_table("exhibit_views")
    op.drop_table("exhibit_opinions")
    op.drop_index(op.f("ix_exhibits_hearing_id"), table_name="exhibits")
    op.drop_table("exhibits")
