"""room chat: the hearing room's chat messages, on the record

Revision ID: 0024_room_chat
Revises: 0020_hardening
Create Date: 2026-12-07

`room_chat` keeps each chat message of a hearing's room (issue 15), numbered per hearing; append-only. At the close
they are copied into the transcript as its chat section. A private room's chat is not stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_room_chat"
down_revision: str | None = "0022_petition_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "room_chat",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_room_chat_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                                name=op.f("fk_room_chat_participant_id_participants")),
        sa.PrimaryKeyConstraint("hearing_id", "seq", name=op.f("pk_room_chat")),
    )


def downgrade() -> None:
    op.drop_table("room_chat")
