"""points exchange (多多评): ledger, catalogue, redemptions

Revision ID: 0010_points
Revises: 0009_integrity
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010_points"
down_revision: str | None = "0009_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
