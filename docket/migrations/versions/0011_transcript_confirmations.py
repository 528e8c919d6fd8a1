"""transcript identity confirmations: the clerk's video check of a signer, single use and expiring

Revision ID: 0011_transcript_confirmations
Revises: 0010_points
Create Date: 2026-11-26

A `staff_confirmed` signature must rest on a confirmation the clerk recorded with their own link, bound to the
hearing and the signer, valid for a few minutes and used up by one signature (see docket/tables_transcripts.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_transcript_confirmations"
down_revision: str | None = "0010_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcript_confirmations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"],
                                name=op.f("fk_transcript_confirmations_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                                name=op.f("fk_transcript_confirmations_participant_id_participants")),
        sa.ForeignKeyConstraint(["confirmed_by"], ["participants.id"],
                                name=op.f("fk_transcript_confirmations_confirmed_by_participants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_confirmations")),
    )
    op.create_index(op.f("ix_transcript_confirmations_hearing_id"), "transcript_confirmations", ["hearing_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transcript_confirmations_hearing_id"), table_name="transcript_confirmations")
    op.drop_table("transcript_confirmations")
