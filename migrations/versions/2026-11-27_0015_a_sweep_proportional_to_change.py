"""A sweep proportional to change: escalation moments, a watermark and a change log (ADR 12).

Reviewed by hand.
- `alerts.next_escalation_at`: when the alert's level next rises (NULL at level 3 and for alerts
  that never escalate). Not backfilled: the thresholds live in the pathway files, so the first sweep
  after this upgrade (it has no watermark yet) is a full pass and writes it on every unresolved alert.
  Two partial indexes: unresolved alerts by next escalation (not snoozed) and by end of snooze.
- `navigator_tasks`: open tasks by due time alone (the sweep reads the ones whose due time passed).
- `sweep_state`: per sweep, the moment it last swept, its last full pass and the pathway rules' hash.
- `sweep_changes`: the change log the sweep claims (deletes) at each run, filled by triggers only:
  statement-level with transition tables on steps, navigator tasks and alerts (a COPY or a bulk
  UPDATE costs one INSERT ... SELECT), row-level with a WHEN clause on cases (the trigger runs only
  when the status or the pathway changes, not on every version bump). A load that bypasses triggers
  (session_replication_role = replica, as bench.generate does) must be followed by a full pass
  (`workup sweep --full`), as must a restore.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_FUNCTION = """
CREATE FUNCTION log_sweep_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'cases' THEN
        INSERT INTO sweep_changes (case_id) VALUES (NEW.id);
    ELSIF TG_TABLE_NAME = 'steps' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO sweep_changes (case_id, step_id)
            SELECT case_id, id FROM new_rows WHERE status IN ('pending', 'scheduled', 'handed_off');
        ELSIF TG_OP = 'UPDATE' THEN
            INSERT INTO sweep_changes (case_id, step_id)
            SELECT n.case_id, n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.status, n.due_at, n.kind, n.case_id) IS DISTINCT FROM (o.status, o.due_at, o.kind, o.case_id);
        ELSE
            INSERT INTO sweep_changes (case_id, step_id) SELECT case_id, id FROM old_rows;
        END IF;
    ELSIF TG_TABLE_NAME = 'navigator_tasks' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO sweep_changes (case_id) SELECT DISTINCT case_id FROM new_rows;
        ELSIF TG_OP = 'UPDATE' THEN
            INSERT INTO sweep_changes (case_id)
            SELECT DISTINCT n.case_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.status, n.due_at, n.case_id) IS DISTINCT FROM (o.status, o.due_at, o.case_id);
        ELSE
            INSERT INTO sweep_changes (case_id) SELECT DISTINCT case_id FROM old_rows;
        END IF;
    ELSIF TG_TABLE_NAME = 'alerts' THEN
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO sweep_changes (case_id, step_id)
            SELECT n.case_id, n.step_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.status = 'resolved') <> (o.status = 'resolved') OR n.case_id <> o.case_id
               OR n.step_id IS DISTINCT FROM o.step_id;
        ELSE
            INSERT INTO sweep_changes (case_id, step_id) SELECT case_id, step_id FROM old_rows
            WHERE status <> 'resolved';
        END IF;
    END IF;
    RETURN NULL;
END $$
"""
TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}
LOGGED = {"steps": ("INSERT", "UPDATE", "DELETE"), "navigator_tasks": ("INSERT", "UPDATE", "DELETE"),
          "alerts": ("UPDATE", "DELETE")}  # fmt: skip
CASES_TRIGGER = """
CREATE TRIGGER cases_sweep_change AFTER UPDATE ON cases FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.pathway_name IS DISTINCT FROM NEW.pathway_name
      OR OLD.pathway_version IS DISTINCT FROM NEW.pathway_version)
EXECUTE FUNCTION log_sweep_change()
"""


def upgrade() -> None:
    op.add_column("alerts", sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_alerts_next_escalation",
        "alerts",
        ["next_escalation_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'resolved' AND snoozed_until IS NULL"),
    )
    op.create_index(
        "ix_alerts_snoozed_until",
        "alerts",
        ["snoozed_until"],
        unique=False,
        postgresql_where=sa.text("status <> 'resolved' AND snoozed_until IS NOT NULL"),
    )
    op.create_index(
        "ix_navigator_tasks_open_by_due",
        "navigator_tasks",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "sweep_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rules_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sweep_state")),
    )
    op.create_table(
        "sweep_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweep_changes")),
    )
    op.execute(LOG_FUNCTION)
    for table, operations in LOGGED.items():
        for operation in operations:
            op.execute(
                f"CREATE TRIGGER {table}_sweep_change_{operation.lower()} AFTER {operation} ON {table} "
                f"REFERENCING {TRANSITIONS[operation]} FOR EACH STATEMENT EXECUTE FUNCTION log_sweep_change()"
            )
    op.execute(CASES_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS cases_sweep_change ON cases")
    for table, operations in LOGGED.items():
        for operation in operations:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_sweep_change_{operation.lower()} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS log_sweep_change()")
    op.drop_table("sweep_changes")
    op.drop_table("sweep_state")
    op.drop_index(
        "ix_navigator_tasks_open_by_due", table_name="navigator_tasks", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_index(
        "ix_alerts_snoozed_until",
        table_name="alerts",
        postgresql_where=sa.text("status <> 'resolved' AND snoozed_until IS NOT NULL"),
    )
    op.drop_index(
        "ix_alerts_next_escalation",
        table_name="alerts",
        postgresql_where=sa.text("status <> 'resolved' AND snoozed_until IS NULL"),
    )
    op.drop_column("alerts", "next_escalation_at")
