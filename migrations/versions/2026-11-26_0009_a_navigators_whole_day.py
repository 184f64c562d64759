"""A navigator's whole day: how to reach the patient, case notes, navigator tasks, facility phones.

Reviewed by hand.
- `patients` gains how to reach her: phones (a JSON list of labelled E.164 numbers), postal
  address, preferred language, interpreter needed, may-we-leave-a-message (NULL: not asked),
  referring provider, primary care provider, and when these last changed. Existing patients get
  no phones, English and no interpreter: the defaults a navigator then corrects.
- `outside_facilities.phone`: a number a navigator calls, besides the channel the requests go by.
- `steps.accession_number`: the RIS's number for the exam a step books, searchable from the
  worklist (partial index on the rows that have one).
- `case_notes`: append-only, like case_events (UPDATE, DELETE and TRUNCATE refused).
- `navigator_tasks`: open, done or cancelled; closed_at exactly when not open; a partial index on
  open tasks by case and due time, read by the worklist and the stalled-case sweep.
- `cases.next_step_due_at` (the earliest due time of the case's pending or scheduled steps) and
  `cases.next_task_due_at` (of its open navigator tasks), kept by statement-level triggers on
  `steps` and `navigator_tasks` (transition tables, so a COPY or a bulk UPDATE costs one
  statement), so the patient worklist orders cases without visiting every case's steps. Every
  write of steps already holds its case's row lock (record_event, open_case), so the trigger's
  UPDATE of `cases` takes no new lock order. Backfilled here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEXT_DUE_FUNCTION = """
CREATE FUNCTION refresh_case_next_due() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        changed := ARRAY(SELECT DISTINCT case_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        changed := ARRAY(SELECT DISTINCT case_id FROM old_rows);
    ELSE
        changed := ARRAY(SELECT case_id FROM new_rows UNION SELECT case_id FROM old_rows);
    END IF;
    IF TG_TABLE_NAME = 'steps' THEN
        UPDATE cases c SET next_step_due_at = found.due
        FROM (SELECT ch.case_id, (SELECT min(s.due_at) FROM steps s
                                  WHERE s.case_id = ch.case_id AND s.status IN ('pending', 'scheduled')) AS due
              FROM unnest(changed) AS ch(case_id)) found
        WHERE c.id = found.case_id AND c.next_step_due_at IS DISTINCT FROM found.due;
    ELSE
        UPDATE cases c SET next_task_due_at = found.due
        FROM (SELECT ch.case_id, (SELECT min(t.due_at) FROM navigator_tasks t
                                  WHERE t.case_id = ch.case_id AND t.status = 'open') AS due
              FROM unnest(changed) AS ch(case_id)) found
        WHERE c.id = found.case_id AND c.next_task_due_at IS DISTINCT FROM found.due;
    END IF;
    RETURN NULL;
END $$
"""
NEXT_DUE_TABLES = ("steps", "navigator_tasks")
TRANSITIONS = {
    "INSERT": "NEW TABLE AS new_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.add_column(
        "patients",
        sa.Column("phones", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.add_column("patients", sa.Column("address", sa.String(length=500), nullable=True))
    op.add_column(
        "patients", sa.Column("preferred_language", sa.String(length=20), server_default="en", nullable=False)
    )
    op.add_column("patients", sa.Column("interpreter_needed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("patients", sa.Column("may_leave_message", sa.Boolean(), nullable=True))
    op.add_column("patients", sa.Column("referring_provider", sa.String(length=200), nullable=True))
    op.add_column("patients", sa.Column("primary_care_provider", sa.String(length=200), nullable=True))
    op.add_column("patients", sa.Column("contact_updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("phones_is_list", "patients", "jsonb_typeof(phones) = 'array'")
    op.add_column("outside_facilities", sa.Column("phone", sa.String(length=40), nullable=True))
    op.add_column("steps", sa.Column("accession_number", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_steps_accession_number",
        "steps",
        ["accession_number"],
        unique=False,
        postgresql_where=sa.text("accession_number IS NOT NULL"),
    )

    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(trim(body)) BETWEEN 1 AND 4000", name=op.f("ck_case_notes_body_length")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    op.create_index(op.f("ix_case_notes_case_id"), "case_notes", ["case_id"], unique=False)
    for trigger, when, each in (("append_only", "UPDATE OR DELETE", "ROW"), ("no_truncate", "TRUNCATE", "STATEMENT")):
        op.execute(
            f"CREATE TRIGGER case_notes_{trigger} BEFORE {when} ON case_notes "
            f"FOR EACH {each} EXECUTE FUNCTION refuse_change_to_history()"
        )

    op.create_table(
        "navigator_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assignee", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_navigator_tasks_status")),
        sa.CheckConstraint("length(trim(title)) > 0", name=op.f("ck_navigator_tasks_title_not_blank")),
        sa.CheckConstraint(
            "(status = 'open') = (closed_at IS NULL)", name=op.f("ck_navigator_tasks_closed_at_iff_closed")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_navigator_tasks_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_navigator_tasks")),
    )
    op.create_index(op.f("ix_navigator_tasks_case_id"), "navigator_tasks", ["case_id"], unique=False)
    op.create_index(
        "ix_navigator_tasks_open_due",
        "navigator_tasks",
        ["case_id", "due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )

    op.add_column("cases", sa.Column("next_step_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("next_task_due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE cases c SET next_step_due_at = n.due FROM (SELECT case_id, min(due_at) AS due FROM steps "
        "WHERE status IN ('pending', 'scheduled') GROUP BY case_id) n WHERE n.case_id = c.id"
    )
    op.execute(NEXT_DUE_FUNCTION)
    for table in NEXT_DUE_TABLES:
        for operation, transition in TRANSITIONS.items():
            op.execute(
                f"CREATE TRIGGER {table}_next_due_{operation.lower()} AFTER {operation} ON {table} "
                f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION refresh_case_next_due()"
            )


def downgrade() -> None:
    for table in NEXT_DUE_TABLES:
        for operation in TRANSITIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_next_due_{operation.lower()} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS refresh_case_next_due()")
    op.drop_column("cases", "next_task_due_at")
    op.drop_column("cases", "next_step_due_at")
    op.drop_index(
        "ix_navigator_tasks_open_due", table_name="navigator_tasks", postgresql_where=sa.text("status = 'open'")
    )
    op.drop_index(op.f("ix_navigator_tasks_case_id"), table_name="navigator_tasks")
    op.drop_table("navigator_tasks")
    op.drop_index(op.f("ix_case_notes_case_id"), table_name="case_notes")
    op.drop_table("case_notes")  # its triggers go with it
    op.drop_index(
        "ix_steps_accession_number", table_name="steps", postgresql_where=sa.text("accession_number IS NOT NULL")
    )
    op.drop_column("steps", "accession_number")
    op.drop_column("outside_facilities", "phone")
    op.drop_constraint("phones_is_list", "patients", type_="check")
    for column in (
        "contact_updated_at",
        "primary_care_provider",
        "referring_provider",
        "may_leave_message",
        "interpreter_needed",
        "preferred_language",
        "address",
        "phones",
    ):
        op.drop_column("patients", column)
