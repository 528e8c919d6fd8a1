"""connect-a-judge (连线法官): stations extended, operators, device links, duty roster, calls

Revision ID: 0015_stations
Revises: 0018_cluster
Create Date: 2026-12-07

The register's `stations` gains its court, area and opening hours (nullable, plain ADD COLUMN: existing stations
keep working). New: `station_operators` (staff accounts that operate a station), `station_links` (device links of
a shared station PC; only the SHA-256 of the token), `duty_shifts` and `duty_status` (the roster and each judge's
available/busy/away), `call_links` (a person's own link to call a judge) and `station_calls` (the queue and the
calls, from a station or from a person with a call link).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_stations"
down_revision: str | None = "0018_cluster"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("stations", sa.Column("court_code", sa.String(32), nullable=True))
    op.add_column("stations", sa.Column("area", sa.Text(), nullable=True))
    op.add_column("stations", sa.Column("opening_hours", sa.Text(), nullable=True))
    op.create_index(op.f("ix_stations_court_code"), "stations", ["court_code"])
    op.create_table(
        "station_operators",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_station_operators_staff_id_staff_accounts")),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_station_operators_station_id_stations")),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_station_operators")),
    )
    op.create_index(op.f("ix_station_operators_station_id"), "station_operators", ["station_id"])
    op.create_table(
        "station_links",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_station_links_station_id_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_station_links_token_hash")),
    )
    op.create_index(op.f("ix_station_links_station_id"), "station_links", ["station_id"])
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("court_code", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("duty_role", sa.String(32), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_duty_shifts_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    op.create_index(op.f("ix_duty_shifts_staff_id"), "duty_shifts", ["staff_id"])
    op.create_index("ix_duty_shifts_court_code_starts_at", "duty_shifts", ["court_code", "starts_at"])
    op.create_table(
        "duty_status",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_duty_status_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_duty_status")),
    )
    op.create_table(
        "call_links",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("court_code", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_call_links_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_call_links_token_hash")),
    )
    op.create_index(op.f("ix_call_links_person_id"), "call_links", ["person_id"])
    op.create_table(
        "station_calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("court_code", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("caller_name", sa.Text(), nullable=False),
        sa.Column("verification_method", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("requested_at", _TS, nullable=False),
        sa.Column("queued_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("accepted_at", _TS, nullable=True),
        sa.Column("accepted_by", sa.String(64), nullable=True),
        sa.Column("judge_joined_at", _TS, nullable=True),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("room_id", sa.String(64), nullable=True),
        sa.Column("requeues", sa.Integer(), nullable=False),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("callback_at", _TS, nullable=True),
        sa.Column("outcome_kind", sa.String(32), nullable=True),
        sa.Column("outcome_ref", sa.String(64), nullable=True),
        sa.Column("message_clip_id", sa.String(64), nullable=True),
        sa.Column("message_heard_by", sa.String(64), nullable=True),
        sa.Column("message_heard_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_station_calls_station_id_stations")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_station_calls_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_calls")),
        sa.UniqueConstraint("room_id", name=op.f("uq_station_calls_room_id")),
    )
    op.create_index(op.f("ix_station_calls_station_id"), "station_calls", ["station_id"])
    op.create_index(op.f("ix_station_calls_person_id"), "station_calls", ["person_id"])
    op.create_index("ix_station_calls_court_code_state", "station_calls", ["court_code", "state"])
    # shared courts (共享法庭)
    op.create_table(
        "staff_courts",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("court_code", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_staff_courts_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_courts")),
    )
    op.create_index(op.f("ix_staff_courts_court_code"), "staff_courts", ["court_code"])
    op.create_table(
        "court_resources",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_court", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], name=op.f("fk_court_resources_station_id_stations")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"],
                                name=op.f("fk_court_resources_staff_id_staff_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_court_resources")),
        sa.UniqueConstraint("station_id", name=op.f("uq_court_resources_station_id")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_court_resources_staff_id")),
    )
    op.create_index(op.f("ix_court_resources_owner_court"), "court_resources", ["owner_court"])
    op.create_table(
        "court_bookings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("borrower_court", sa.String(32), nullable=False),
        sa.Column("hearing_id", sa.String(64), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", _TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["resource_id"], ["court_resources.id"],
                                name=op.f("fk_court_bookings_resource_id_court_resources")),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_court_bookings_hearing_id_hearings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_court_bookings")),
    )
    op.create_index(op.f("ix_court_bookings_resource_id"), "court_bookings", ["resource_id"])


def downgrade() -> None:
    op.drop_table("court_bookings")
    op.drop_table("court_resources")
    op.drop_table("staff_courts")
    op.drop_table("station_calls")
    op.drop_table("call_links")
    op.drop_table("duty_status")
    op.drop_table("duty_shifts")
    op.drop_table("station_links")
    op.drop_table("station_operators")
    op.drop_index(op.f("ix_stations_court_code"), table_name="stations")
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("opening_hours")
        batch.drop_column("area")
        batch.drop_column("court_code")
