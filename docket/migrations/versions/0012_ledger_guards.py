"""points ledger guards: entries and postings are append-only, and each entry balances, in the database itself

Revision ID: 0012_ledger_guards
Revises: 0011_transcript_confirmations
Create Date: 2026-12-04

The code never updates or deletes a ledger row (a correction is a reversal entry); these triggers make that hold
for any writer — a bug, a console session, another service — on both backends:
- UPDATE and DELETE (and on PostgreSQL TRUNCATE) of `points_entries` and `points_postings` are refused;
- on PostgreSQL, deferred constraint triggers check at commit that every new entry has two or more postings
  summing to zero. SQLite has no deferred triggers (a per-row check would refuse an entry half-inserted), so
  there the check is points.store_sql's alone.
No schema objects change (Alembic's comparison does not see triggers). A later SQLite batch migration that
rebuilds one of these tables drops its triggers with it and must create them again.

The audit log is not guarded here: its hash chain is what detects an edit (docket.audit.verify), and its tests
tamper with rows on purpose to prove that.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_ledger_guards"
down_revision: str | None = "0011_transcript_confirmations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("points_entries", "points_postings")
MESSAGE = "is append-only: correct an entry with a reversal entry"

_PG_APPEND_ONLY = f"""
CREATE FUNCTION points_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% refused: the points ledger (%) {MESSAGE}', TG_OP, TG_TABLE_NAME;
END
$$
"""

_PG_BALANCED = """
CREATE FUNCTION points_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry text;
    n bigint;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'points_entries' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO n, total FROM points_postings WHERE entry_id = entry;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'points entry % does not balance: % posting(s) summing to %; an entry needs two or more '
                        'postings summing to zero', entry, n, total;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_APPEND_ONLY)
        op.execute(_PG_BALANCED)
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION points_ledger_append_only()")
            # Deferred to commit: an entry's row and postings are inserted one by one within its transaction.
            op.execute(f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION points_entry_balanced()")
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{event} refused: the points ledger ({table}) {MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for trigger in ("append_only", "no_truncate", "balanced"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{trigger} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS points_entry_balanced()")
        op.execute("DROP FUNCTION IF EXISTS points_ledger_append_only()")
    else:
        for table in TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
