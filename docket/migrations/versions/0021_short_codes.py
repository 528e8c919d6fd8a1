"""short codes for join links: seat_codes (a keyed hash of the code, the link's token sealed under the code)

Revision ID: 0021_short_codes
Revises: 0015_stations
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_short_codes"
down_revision: str | None = "0015_stations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seat_codes",
        sa.Column("lookup", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(64), sa.ForeignKey("issued_tokens.jti"), nullable=False, unique=True),
        sa.Column("sealed_token", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("seat_codes")
