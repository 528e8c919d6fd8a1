"""hearing transcripts (笔录): versions and signatures

Revision ID: 0005_transcripts
Revises: 0004_staff
Create Date: 2026-11-25

One head row per hearing (latest version and signature count, the compare-and-set target; the hearing's
re-verification setting), the append-only versions, and the participants' signatures bound to one version.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_transcripts"
down_revision: str | None = "0004_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("signature_count", sa.Integer(), nullable=False),
        sa.Column("reverify_roles", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_transcripts_hearing_id_hearings")),
        sa.PrimaryKeyConstraint("hearing_id", name=op.f("pk_transcripts")),
    )
    op.create_table(
        "transcript_versions",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_role", sa.String(32), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hearing_id"], ["hearings.id"], name=op.f("fk_transcript_versions_hearing_id_hearings")
        ),
        sa.PrimaryKeyConstraint("hearing_id", "number", name=op.f("pk_transcript_versions")),
    )
    op.create_table(
        "transcript_signatures",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"], ["participants.id"],
            name=op.f("fk_transcript_signatures_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["hearing_id", "version"], ["transcript_versions.hearing_id", "transcript_versions.number"],
            name=op.f("fk_transcript_signatures_hearing_id_transcript_versions"),
        ),
        sa.PrimaryKeyConstraint("hearing_id", "participant_id", name=op.f("pk_transcript_signatures")),
    )


def downgrade() -> None:
    op.drop_table("transcript_signatures")
    op.drop_table("transcript_versions")
    op.drop_table("transcripts")
