"""issued join tokens and revocation

Revision ID: 0002_tokens
Revises: 0001_rooms
Create Date: 2024-11-25

Also adds rooms.closed_at (nullable, so existing rooms stay valid) for closing rooms later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_tokens"
down_revision: str | None = "0001_rooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "issued_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_issued_tokens_room_id_rooms")),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_issued_tokens")),
    )
    op.create_index(op.f("ix_issued_tokens_room_id"), "issued_tokens", ["room_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_issued_tokens_room_id"), table_name="issued_tokens")
    op.drop_table("issued_tokens")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("closed_at")
