"""cluster: facts the follower parked after repeated handler failures

Revision ID: 0018_cluster
Revises: 0019_async_trial
Create Date: 2026-12-07

`facts_parked` holds a fact whose handler kept failing, with the handler, the error and the attempts, so one bad
fact no longer holds back every fact after it (docket/tables_facts_follower.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_cluster"
down_revision: str | None = "0019_async_trial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facts_parked",
        sa.Column("follower", sa.String(64), nullable=False),
        sa.Column("fact_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("handler", sa.String(128), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["fact_id"], ["litigation_facts.id"],
                                name=op.f("fk_facts_parked_fact_id_litigation_facts")),
        sa.PrimaryKeyConstraint("follower", "fact_id", name=op.f("pk_facts_parked")),
    )
    op.create_index(op.f("ix_facts_parked_person_id"), "facts_parked", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_facts_parked_person_id"), table_name="facts_parked")
    op.drop_table("facts_parked")
