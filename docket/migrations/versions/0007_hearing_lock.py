"""hearings.locked: a locked hearing room admits nobody new

Revision ID: 0007_hearing_lock
Revises: 0006_exhibits
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_hearing_lock"
down_revision: str | None = "0006_exhibits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hearings") as batch:
        batch.add_column(sa.Column("locked", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("hearings") as batch:
        batch.drop_column("locked")
