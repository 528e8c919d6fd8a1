"""integrity code (个人诚信码): facts, codes, agency queries, appeals

Revision ID: 0009_integrity
Revises: 0008_private_rooms
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_integrity"
down_revision: str | None = "0008_private_rooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
