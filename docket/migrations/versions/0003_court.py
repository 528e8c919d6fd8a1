"""court register and audit log

Revision ID: 0003_court
Revises: 0002_tokens
Create Date: 2026-05-10

Stations, persons (identity documents only as salted hashes), cases and their parties, hearings and their
panels, participants, and the hash-chained audit log with its one-row chain head (seq 0, genesis hash).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_court"
down_revision: str | None = "0002_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64  # docket.audit.GENESIS_HASH, copied: a migration must not change when the code does


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("id_document_hash", sa.Text(), nullable=True),
        sa.Column("id_document_last4", sa.String(4), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index(op.f("ix_persons_id_document_last4"), "persons", ["id_document_last4"])
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("case_number", name=op.f("uq_cases_case_number")),
    )
    op.create_table(
        "case_parties",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("side", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_parties_case_id_cases")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_case_parties_person_id_persons")),
        sa.PrimaryKeyConstraint("case_id", "person_id", name=op.f("pk_case_parties")),
    )
    op.create_index(op.f("ix_case_parties_person_id"), "case_parties", ["person_id"])
    op.create_table(
        "hearings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hearings_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hearings")),
        sa.UniqueConstraint("room_id", name=op.f("uq_hearings_room_id")),
    )
    op.create_index(op.f("ix_hearings_case_id"), "hearings", ["case_id"])
    op.create_index(op.f("ix_hearings_scheduled_start"), "hearings", ["scheduled_start"])
    op.create_table(
        "panel_members",
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_panel_members_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_panel_members_person_id_persons")),
        sa.PrimaryKeyConstraint("hearing_id", "person_id", name=op.f("pk_panel_members")),
        sa.UniqueConstraint("hearing_id", "position", name=op.f("uq_panel_members_hearing_id_position")),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("token_jti", sa.String(64), nullable=True),
        sa.Column("verification_method", sa.String(32), nullable=True),
        sa.Column("verified_by", sa.String(64), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_participants_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_participants_person_id_persons")),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_participants_station_id_stations")),
        sa.ForeignKeyConstraint(
            ["token_jti"], ["issued_tokens.jti"], name=op.f("fk_participants_token_jti_issued_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("hearing_id", "person_id", name=op.f("uq_participants_hearing_id_person_id")),
        sa.UniqueConstraint("token_jti", name=op.f("uq_participants_token_jti")),
    )
    op.create_index(op.f("ix_participants_person_id"), "participants", ["person_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_participants_person_id"), table_name="participants")
    op.drop_table("participants")
    op.drop_table("panel_members")
    op.drop_index(op.f("ix_hearings_scheduled_start"), table_name="hearings")
    op.drop_index(op.f("ix_hearings_case_id"), table_name="hearings")
    op.drop_table("hearings")
    op.drop_index(op.f("ix_case_parties_person_id"), table_name="case_parties")
    op.drop_table("case_parties")
    op.drop_table("cases")
    op.drop_index(op.f("ix_persons_id_document_last4"), table_name="persons")
    op.drop_table("persons")
    op.drop_table("stations")
