"""No work dropped silently: alert kinds, failure counts that outages never use up, request hashes,
and the scheduler's memory of when each job last ran.

Reviewed by hand. Autogenerate found the columns, the two partial unique indexes and the foreign
keys; the CHECK constraints are added here by hand. Existing rows get their values from
temporary server defaults (every existing alert is an overdue-step alert; a waiting run request
may be tried at once), which are then dropped so the models stay the only source of defaults.

- alerts.kind: overdue_step | delivery_failed | run_stalled; step_id only for overdue_step.
- notifications.failures and case_runs.failures: tries the receiver or the code refused. Outages
  (database, Prefect API, network, SMTP connect) back off without counting.
- case_runs.next_attempt_at: the backoff moment.
- Partial indexes on dead notifications and failed case runs, which the sweep reads every pass.
- case_events.request_hash: the same idempotency key with another request is refused.
- scheduler_job_runs: a new scheduler leader computes each job's next run from the last one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:56:17.074053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduler_job_runs",
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.CheckConstraint("last_outcome IN ('succeeded', 'failed')", name=op.f("ck_scheduler_job_runs_last_outcome")),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_scheduler_job_runs")),
    )

    op.add_column("alerts", sa.Column("kind", sa.String(length=30), nullable=False, server_default="overdue_step"))
    op.alter_column("alerts", "kind", server_default=None)
    op.add_column("alerts", sa.Column("notification_id", sa.Integer(), nullable=True))
    op.add_column("alerts", sa.Column("case_run_id", sa.Integer(), nullable=True))
    op.alter_column("alerts", "step_id", existing_type=sa.INTEGER(), nullable=True)
    op.create_check_constraint(
        op.f("ck_alerts_kind"), "alerts", "kind IN ('overdue_step', 'delivery_failed', 'run_stalled')"
    )
    op.create_check_constraint(
        op.f("ck_alerts_step_iff_overdue_step"), "alerts", "(kind = 'overdue_step') = (step_id IS NOT NULL)"
    )
    op.create_check_constraint(
        op.f("ck_alerts_delivery_failed_names_it"), "alerts", "kind <> 'delivery_failed' OR notification_id IS NOT NULL"
    )
    op.create_check_constraint(
        op.f("ck_alerts_run_stalled_names_it"), "alerts", "kind <> 'run_stalled' OR case_run_id IS NOT NULL"
    )
    op.create_index(
        "uq_alerts_one_unresolved_per_notification",
        "alerts",
        ["notification_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.create_index(
        "uq_alerts_one_unresolved_stalled_run_per_case",
        "alerts",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'run_stalled' AND status <> 'resolved'"),
    )
    op.create_foreign_key(op.f("fk_alerts_case_run_id_case_runs"), "alerts", "case_runs", ["case_run_id"], ["id"])
    op.create_foreign_key(
        "fk_alerts_notification_id_notifications", "alerts", "notifications", ["notification_id"], ["id"]
    )

    op.add_column("case_events", sa.Column("request_hash", sa.String(length=64), nullable=True))

    op.add_column("case_runs", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.alter_column("case_runs", "failures", server_default=None)
    op.execute("UPDATE case_runs SET failures = attempts WHERE status = 'failed'")
    op.add_column("case_runs", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE case_runs SET next_attempt_at = requested_at")
    op.alter_column("case_runs", "next_attempt_at", nullable=False)
    op.create_check_constraint(
        op.f("ck_case_runs_failures_within_attempts"), "case_runs", "failures BETWEEN 0 AND attempts"
    )

    op.add_column("notifications", sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.alter_column("notifications", "failures", server_default=None)
    op.execute("UPDATE notifications SET failures = attempts WHERE status = 'dead'")
    op.create_check_constraint(
        op.f("ck_notifications_failures_within_attempts"), "notifications", "failures BETWEEN 0 AND attempts"
    )
    # The sweep reads dead letters and failed runs every pass: both sets are small, so partial indexes.
    op.create_index("ix_notifications_dead", "notifications", ["id"], postgresql_where=sa.text("status = 'dead'"))
    op.create_index("ix_case_runs_failed", "case_runs", ["case_id"], postgresql_where=sa.text("status = 'failed'"))


def downgrade() -> None:
    op.drop_index("ix_case_runs_failed", table_name="case_runs", postgresql_where=sa.text("status = 'failed'"))
    op.drop_index("ix_notifications_dead", table_name="notifications", postgresql_where=sa.text("status = 'dead'"))
    op.drop_constraint(op.f("ck_notifications_failures_within_attempts"), "notifications", type_="check")
    op.drop_column("notifications", "failures")
    op.drop_constraint(op.f("ck_case_runs_failures_within_attempts"), "case_runs", type_="check")
    op.drop_column("case_runs", "next_attempt_at")
    op.drop_column("case_runs", "failures")
    op.drop_column("case_events", "request_hash")
    op.drop_constraint("fk_alerts_notification_id_notifications", "alerts", type_="foreignkey")
    op.drop_constraint(op.f("fk_alerts_case_run_id_case_runs"), "alerts", type_="foreignkey")
    op.drop_index(
        "uq_alerts_one_unresolved_stalled_run_per_case",
        table_name="alerts",
        postgresql_where=sa.text("kind = 'run_stalled' AND status <> 'resolved'"),
    )
    op.drop_index(
        "uq_alerts_one_unresolved_per_notification",
        table_name="alerts",
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    # Alerts that are not about a step cannot exist in the older schema; refuse rather than lose them.
    other = op.get_bind().execute(sa.text("SELECT count(*) FROM alerts WHERE kind <> 'overdue_step'")).scalar()
    if other:
        raise RuntimeError(f"{other} delivery or run alerts exist; resolve and archive them before downgrading")
    op.drop_constraint(op.f("ck_alerts_run_stalled_names_it"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_delivery_failed_names_it"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_step_iff_overdue_step"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.alter_column("alerts", "step_id", existing_type=sa.INTEGER(), nullable=False)
    op.drop_column("alerts", "case_run_id")
    op.drop_column("alerts", "notification_id")
    op.drop_column("alerts", "kind")
    op.drop_table("scheduler_job_runs")
