"""integrity appeals: evidence files, and revocable person access links

Revision ID: 0013_integrity_evidence
Revises: 0012_ledger_guards
Create Date: 2026-12-08

`integrity_evidence` records each file a person attached to an appeal or repair request (信用修复): the object
key (ids only), the cleaned display name, the type read from the bytes, the size and the SHA-256. The bytes
themselves are in the object store. `integrity_access_tokens` gains `revoked_at` / `revoked_by`, so staff can
withdraw a person's access links before they expire. Both columns are nullable: existing links stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_integrity_evidence"
down_revision: str | None = "0012_ledger_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integrity_evidence",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["integrity_appeals.id"],
                                name=op.f("fk_integrity_evidence_appeal_id_integrity_appeals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_evidence")),
        sa.UniqueConstraint("object_key", name=op.f("uq_integrity_evidence_object_key")),
        sa.UniqueConstraint("appeal_id", "position", name=op.f("uq_integrity_evidence_appeal_id_position")),
    )
    op.create_index(op.f("ix_integrity_evidence_appeal_id"), "integrity_evidence", ["appeal_id"])
    # Plain ADD COLUMN of nullable columns: no SQLite table rebuild (which would matter for triggers elsewhere).
    op.add_column("integrity_access_tokens", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("integrity_access_tokens", sa.Column("revoked_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("integrity_access_tokens") as batch:
        batch.drop_column("revoked_by")
        batch.drop_column("revoked_at")
    op.drop_index(op.f("ix_integrity_evidence_appeal_id"), table_name="integrity_evidence")
    op.drop_table("integrity_evidence")
