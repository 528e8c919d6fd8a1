"""evidence exhibits (电子质证): files, opinions, views

Revision ID: 0006_exhibits
Revises: 0005_transcripts
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_exhibits"
down_revision: str | None = "0005_transcripts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
