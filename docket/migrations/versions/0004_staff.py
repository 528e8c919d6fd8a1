"""staff accounts and login sessions

Revision ID: 0004_staff
Revises: 0003_court
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_staff"
down_revision: str | None = "0003_court"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
