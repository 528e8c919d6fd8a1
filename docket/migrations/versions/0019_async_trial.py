"""asynchronous trial (异步审理): consents, stages, questions, extensions, sealed answers

Revision ID: 0019_async_trial
Revises: 0017_petitions
Create Date: 2026-12-07

Append-only tables (docket/tables_async_trial.py): every consent and withdrawal; the stages with their deadlines
and visibility rule (one of each kind per hearing); questions; deadline extensions with their reasons; answers,
one per question and participant (unique), each sealed and chained to the hearing"s previous answer (`prev_hash`
unique per hearing).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_async_trial"
down_revision: str | None = "0017_petitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("async_stages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hearing_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("visibility", sa.String(length=32), nullable=False),
        sa.Column("workdays", sa.Integer(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_async_stages_hearing_id_hearings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_stages")),
        sa.UniqueConstraint("hearing_id", "kind", name=op.f("uq_async_stages_hearing_id_kind")),
        sa.UniqueConstraint("hearing_id", "number", name=op.f("uq_async_stages_hearing_id_number"))
        )
    op.create_index(op.f("ix_async_stages_hearing_id"), "async_stages", ["hearing_id"], unique=False)
    op.create_table("async_consents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hearing_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_async_consents_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                name=op.f("fk_async_consents_participant_id_participants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_consents")),
        sa.UniqueConstraint("hearing_id", "seq", name=op.f("uq_async_consents_hearing_id_seq"))
        )
    op.create_index(op.f("ix_async_consents_hearing_id"), "async_consents", ["hearing_id"], unique=False)
    op.create_table("async_extensions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hearing_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_async_extensions_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                name=op.f("fk_async_extensions_participant_id_participants")),
        sa.ForeignKeyConstraint(["stage_id"], ["async_stages.id"],
                name=op.f("fk_async_extensions_stage_id_async_stages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_extensions"))
        )
    op.create_index(op.f("ix_async_extensions_hearing_id"), "async_extensions", ["hearing_id"], unique=False)
    op.create_table("async_questions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hearing_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("addressees", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("clip_id", sa.String(length=64), nullable=True),
        sa.Column("clip_sha256", sa.String(length=64), nullable=True),
        sa.Column("posted_by", sa.String(length=64), nullable=False),
        sa.Column("posted_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_async_questions_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["stage_id"], ["async_stages.id"],
                name=op.f("fk_async_questions_stage_id_async_stages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_questions")),
        sa.UniqueConstraint("hearing_id", "number", name=op.f("uq_async_questions_hearing_id_number"))
        )
    op.create_index(op.f("ix_async_questions_hearing_id"), "async_questions", ["hearing_id"], unique=False)
    op.create_table("async_answers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hearing_id", sa.String(length=64), nullable=False),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("clip_id", sa.String(length=64), nullable=True),
        sa.Column("clip_sha256", sa.String(length=64), nullable=True),
        sa.Column("clip_size", sa.BigInteger(), nullable=True),
        sa.Column("clip_media_type", sa.String(length=32), nullable=True),
        sa.Column("exhibit_ids", sa.Text(), nullable=False),
        sa.Column("submitted_at", _TS, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["hearing_id"], ["hearings.id"], name=op.f("fk_async_answers_hearing_id_hearings")),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"],
                name=op.f("fk_async_answers_participant_id_participants")),
        sa.ForeignKeyConstraint(["question_id"], ["async_questions.id"],
                name=op.f("fk_async_answers_question_id_async_questions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_answers")),
        sa.UniqueConstraint("hearing_id", "prev_hash", name=op.f("uq_async_answers_hearing_id_prev_hash")),
        sa.UniqueConstraint("hearing_id", "seq", name=op.f("uq_async_answers_hearing_id_seq")),
        sa.UniqueConstraint("question_id", "participant_id", name=op.f("uq_async_answers_question_id_participant_id"))
        )
    op.create_index(op.f("ix_async_answers_hearing_id"), "async_answers", ["hearing_id"], unique=False)


def downgrade() -> None:
    for table in ("async_answers", "async_questions", "async_extensions", "async_consents", "async_stages"):
        op.drop_index(op.f(f"ix_{table}_hearing_id"), table_name=table)
        op.drop_table(table)
