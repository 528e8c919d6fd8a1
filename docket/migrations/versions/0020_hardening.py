"""hardening: revocable points person links

Revision ID: 0020_hardening
Revises: 0021_short_codes
Create Date: 2026-12-07

`points_person_tokens` records every points link issued to a person by the SHA-256 of its token, with who issued it,
when it expires and, once withdrawn, when and by whom (the integrity access links' pattern, 0013). A points token
is accepted only while its row exists, is unexpired and is not revoked; links issued before this migration have no
row and must be issued again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_hardening"
down_revision: str | None = "0021_short_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_person_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_points_person_tokens_person_id_persons")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_points_person_tokens")),
    )
    op.create_index(op.f("ix_points_person_tokens_person_id"), "points_person_tokens", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_points_person_tokens_person_id"), table_name="points_person_tokens")
    op.drop_table("points_person_tokens")
