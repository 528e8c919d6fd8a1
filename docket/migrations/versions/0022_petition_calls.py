"""petition calls: the handler's recorded video call with the citizen; the filing session of a petition

Revision ID: 0022_petition_calls
Revises: 0020_hardening
Create Date: 2026-12-07

`petition_calls` holds each video call a petition's handler starts with the citizen (petitions/calls.py); its id
names the recording's manifest chain. `petitions.filing_session` keeps the random id of the filing session a citizen
filed in, so the daily filing limit can count a session's petitions (rows filed before this migration have none).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_petition_calls"
down_revision: str | None = "0020_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("petitions") as batch:
        batch.add_column(sa.Column("filing_session", sa.String(64), nullable=True))
        batch.create_index(op.f("ix_petitions_filing_session"), ["filing_session"])
    op.create_table(
        "petition_calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("petition_id", sa.String(64), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("handler_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("citizen_joined_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petitions.id"],
                                name=op.f("fk_petition_calls_petition_id_petitions")),
        sa.ForeignKeyConstraint(["handler_id"], ["staff_accounts.id"],
                                name=op.f("fk_petition_calls_handler_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petition_calls")),
        sa.UniqueConstraint("room_id", name=op.f("uq_petition_calls_room_id")),
    )
    op.create_index(op.f("ix_petition_calls_petition_id"), "petition_calls", ["petition_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_petition_calls_petition_id"), table_name="petition_calls")
    op.drop_table("petition_calls")
    with op.batch_alter_table("petitions") as batch:
        batch.drop_index(op.f("ix_petitions_filing_session"))
        batch.drop_column("filing_session")
