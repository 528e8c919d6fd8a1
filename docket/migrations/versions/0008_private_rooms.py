"""private rooms of a hearing: caucus rooms (调解 背靠背) and the panel's retiring room

Revision ID: 0008_private_rooms
Revises: 0007_hearing_lock
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_private_rooms"
down_revision: str | None = "0007_hearing_lock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "private_rooms",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name="fk_private_rooms_hearing_id_hearings"),
        sa.PrimaryKeyConstraint("id", name="pk_private_rooms"),
        sa.UniqueConstraint("room_id", name="uq_private_rooms_room_id"),
    )
    op.create_index("ix_private_rooms_hearing_id", "private_rooms", ["hearing_id"])
    op.create_table(
        "private_room_members",
        sa.Column("private_room_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["private_room_id"], ["private_rooms.id"],
                                name="fk_private_room_members_private_room_id_private_rooms"),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                                name="fk_private_room_members_participant_id_participants"),
        sa.PrimaryKeyConstraint("private_room_id", "participant_id", name="pk_private_room_members"),
    )


def downgrade() -> None:
    op.drop_table("private_room_members")
    op.drop_index("ix_private_rooms_hearing_id", table_name="private_rooms")
    op.drop_table("private_rooms")
