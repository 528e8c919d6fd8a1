"""points exchange (多多评): ledger, catalogue, redemptions

Revision ID: 0010_points
Revises: 0009_integrity
Create Date: 2026-11-25

A double-entry ledger (accounts, append-only entries, postings summing to zero per entry), the catalogue of items
with stock that can never go below zero (CHECK), redemptions keyed by the client's idempotency key, and the cursor
of the service that follows the facts register. See docket/tables_points.py and docs/points.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_points"
down_revision: str | None = "0009_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_accounts",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_points_accounts_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_accounts")),
        sa.UniqueConstraint("person_id", name=op.f("uq_points_accounts_person_id")),
    )
    op.create_table(
        "points_entries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("reversal_of", sa.String(64), nullable=True),
        sa.Column("rules_version", sa.String(32), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reversal_of"], ["points_entries.id"], name=op.f("fk_points_entries_reversal_of_points_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_points_entries_idempotency_key")),
        sa.UniqueConstraint("reversal_of", name=op.f("uq_points_entries_reversal_of")),
    )
    op.create_table(
        "points_postings",
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_points_postings_amount_nonzero")),
        sa.ForeignKeyConstraint(["entry_id"], ["points_entries.id"],
                                name=op.f("fk_points_postings_entry_id_points_entries")),
        sa.ForeignKeyConstraint(["account_id"], ["points_accounts.id"],
                                name=op.f("fk_points_postings_account_id_points_accounts")),
        sa.PrimaryKeyConstraint("entry_id", "account_id", name=op.f("pk_points_postings")),
    )
    op.create_index(op.f("ix_points_postings_account_id"), "points_postings", ["account_id"])
    op.create_table(
        "points_items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_points_items_price_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_points_items_stock_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_items")),
    )
    op.create_table(
        "points_redemptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_points_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_points_redemptions_person_id_persons")),
        sa.ForeignKeyConstraint(["item_id"], ["points_items.id"],
                                name=op.f("fk_points_redemptions_item_id_points_items")),
        sa.ForeignKeyConstraint(["entry_id"], ["points_entries.id"],
                                name=op.f("fk_points_redemptions_entry_id_points_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_redemptions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_points_redemptions_idempotency_key")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_points_redemptions_entry_id")),
    )
    op.create_index(op.f("ix_points_redemptions_person_id"), "points_redemptions", ["person_id"])
    op.create_table(
        "points_cursor",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_points_cursor")),
    )


def downgrade() -> None:
    op.drop_table("points_cursor")
    op.drop_index(op.f("ix_points_redemptions_person_id"), table_name="points_redemptions")
    op.drop_table("points_redemptions")
    op.drop_table("points_items")
    op.drop_index(op.f("ix_points_postings_account_id"), table_name="points_postings")
    op.drop_table("points_postings")
    op.drop_table("points_entries")
    op.drop_table("points_accounts")
