"""integrity code (个人诚信码): facts, codes, agency queries, appeals

Revision ID: 0009_integrity
Revises: 0008_private_rooms
Create Date: 2026-11-25

Litigation facts (append-only, idempotent on (source, source_ref), numbered in commit order), agencies (scopes
and the SHA-256 of their API key), the agency query log, appeals and repair requests (信用修复), snapshots of
computed codes, and the access tokens persons use to see their own code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_integrity"
down_revision: str | None = "0008_private_rooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"))


def _person_fk(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "person_id", "persons")


def upgrade() -> None:
    op.create_table(
        "litigation_facts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        _person_fk("litigation_facts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_litigation_facts")),
        sa.UniqueConstraint("seq", name=op.f("uq_litigation_facts_seq")),
        sa.UniqueConstraint("source", "source_ref", name=op.f("uq_litigation_facts_source_source_ref")),
    )
    op.create_index(op.f("ix_litigation_facts_person_id"), "litigation_facts", ["person_id"])
    op.create_table(
        "integrity_agencies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_agencies")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_integrity_agencies_key_hash")),
    )
    op.create_table(
        "integrity_queries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("colour", sa.String(32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        _fk("integrity_queries", "agency_id", "integrity_agencies"),
        _person_fk("integrity_queries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_queries")),
    )
    op.create_index(op.f("ix_integrity_queries_agency_id"), "integrity_queries", ["agency_id"])
    op.create_index(op.f("ix_integrity_queries_person_id"), "integrity_queries", ["person_id"])
    op.create_table(
        "integrity_appeals",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("fact_ids", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        _person_fk("integrity_appeals"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_appeals")),
    )
    op.create_index(op.f("ix_integrity_appeals_person_id"), "integrity_appeals", ["person_id"])
    op.create_index(op.f("ix_integrity_appeals_status"), "integrity_appeals", ["status"])
    op.create_table(
        "integrity_codes",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("colour", sa.String(32), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("ruleset_version", sa.String(32), nullable=False),
        sa.Column("facts_seq", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        _person_fk("integrity_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_codes")),
    )
    op.create_index(op.f("ix_integrity_codes_person_id"), "integrity_codes", ["person_id"])
    op.create_table(
        "integrity_access_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _person_fk("integrity_access_tokens"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_integrity_access_tokens")),
    )
    op.create_index(op.f("ix_integrity_access_tokens_person_id"), "integrity_access_tokens", ["person_id"])


def downgrade() -> None:
    indexes = {
        "integrity_access_tokens": ["person_id"], "integrity_codes": ["person_id"],
        "integrity_appeals": ["status", "person_id"], "integrity_queries": ["person_id", "agency_id"],
        "integrity_agencies": [], "litigation_facts": ["person_id"],
    }
    for table, columns in indexes.items():
        for column in columns:
            op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_table(table)
