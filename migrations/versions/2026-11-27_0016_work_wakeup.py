"""Wake the worker when work is written: NOTIFY workup_work on inserts into case_runs and notifications.

Reviewed by hand.
- One trigger function, `wake_worker()`, runs `pg_notify('workup_work', <table name>)`.
- Statement-level AFTER INSERT triggers on `case_runs` and `notifications` call it: one call per
  statement, however many rows it inserts (a statement that inserts none wakes the worker for
  nothing, which costs it one cheap query). PostgreSQL delivers a NOTIFY when its transaction
  commits, never on a rollback, and merges identical ones of one transaction, so an event that
  asks for a run and queues notices sends at most two, with no extra round trip from the client.
- A row that becomes due later without an insert (a retry after backoff, `workup runs retry`) is
  found by the worker's fallback poll (WORKUP_CASE_RUNS_EVERY_SECONDS, WORKUP_DELIVERY_EVERY_SECONDS).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "workup_work"
WATCHED = ("case_runs", "notifications")

WAKE_FUNCTION = f"""
CREATE FUNCTION wake_worker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    op.execute(WAKE_FUNCTION)
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_wake_worker AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wake_worker()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_wake_worker ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wake_worker()")
