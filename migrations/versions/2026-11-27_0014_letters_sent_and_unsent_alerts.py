"""Letters page: what marking a letter sent records, and alerts for letters produced but not sent.

Reviewed by hand.
- `letters.sent_event_id`: the `result_letter_sent` event that marking a lay summary sent recorded
  (it completed the case's result-letter step); NULL for other kinds, and for a lay summary whose
  step was already complete.
- `letters.sent_density` (dense | not_dense) and `letters.sent_density_statement`: the density
  statement that went out with a lay summary, from the letter's own stored inputs.
- The letters guard (guard_letter_change, migration 0010) now lets only "mark sent" change a
  letter: status from produced to sent, with sent_at, sent_by and the three columns above.
  Anything else, a second marking, a delete and a TRUNCATE are still refused.
- `alerts.letter_id` and the alert kind `letter_unsent`: a produced letter not marked sent by its
  deadline. One unresolved alert per letter (partial unique index).
No existing row changes: every letter has the new columns NULL, every alert a NULL letter_id.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_KINDS_BEFORE = "'overdue_step', 'delivery_failed', 'run_stalled', 'case_stalled', 'corrected_result'"
ALERT_KINDS_AFTER = f"{ALERT_KINDS_BEFORE}, 'letter_unsent'"

GUARD_BEFORE = """
CREATE OR REPLACE FUNCTION guard_letter_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sending CONSTANT text[] := ARRAY['status', 'sent_at', 'sent_by'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'letters are kept: letter % cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (to_jsonb(NEW) - sending) IS DISTINCT FROM (to_jsonb(OLD) - sending) THEN
        RAISE EXCEPTION 'letter % can only be marked sent (status, sent_at, sent_by)', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'sent' THEN
        RAISE EXCEPTION 'letter % was already marked sent', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$
"""

GUARD_AFTER = """
CREATE OR REPLACE FUNCTION guard_letter_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sending CONSTANT text[] := ARRAY['status', 'sent_at', 'sent_by', 'sent_event_id', 'sent_density',
                                     'sent_density_statement'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'letters are kept: letter % cannot be deleted', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (to_jsonb(NEW) - sending) IS DISTINCT FROM (to_jsonb(OLD) - sending) THEN
        RAISE EXCEPTION 'letter % can only be marked sent (status, sent_at, sent_by, what the sending recorded)',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'sent' THEN
        RAISE EXCEPTION 'letter % was already marked sent', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status <> 'sent' THEN
        RAISE EXCEPTION 'letter % can only change by being marked sent', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$
"""

LETTER_CHECKS = {
    "sent_event_for_sent_result": "sent_event_id IS NULL OR (status = 'sent' AND kind = 'result')",
    "sent_density_with_statement": "(sent_density IS NULL) = (sent_density_statement IS NULL)",
    "sent_density_for_sent_result": (
        "sent_density IS NULL OR (status = 'sent' AND kind = 'result' AND sent_density IN ('dense', 'not_dense'))"
    ),
}


def upgrade() -> None:
    op.add_column("letters", sa.Column("sent_event_id", sa.Integer(), nullable=True))
    op.add_column("letters", sa.Column("sent_density", sa.String(length=20), nullable=True))
    op.add_column("letters", sa.Column("sent_density_statement", sa.Text(), nullable=True))
    op.create_foreign_key(
        op.f("fk_letters_sent_event_id_case_events"), "letters", "case_events", ["sent_event_id"], ["id"]
    )
    for name, condition in LETTER_CHECKS.items():
        op.create_check_constraint(op.f(f"ck_letters_{name}"), "letters", condition)
    op.execute(GUARD_AFTER)

    op.add_column("alerts", sa.Column("letter_id", sa.Integer(), nullable=True))
    op.create_foreign_key(op.f("fk_alerts_letter_id_letters"), "alerts", "letters", ["letter_id"], ["id"])
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_AFTER})")
    op.create_check_constraint(
        op.f("ck_alerts_letter_unsent_names_it"), "alerts", "(kind = 'letter_unsent') = (letter_id IS NOT NULL)"
    )
    op.create_index(
        "uq_alerts_one_unresolved_per_letter",
        "alerts",
        ["letter_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_alerts_one_unresolved_per_letter", table_name="alerts", postgresql_where=sa.text("status <> 'resolved'")
    )
    unsent = "SELECT id FROM alerts WHERE kind = 'letter_unsent'"
    op.execute(f"UPDATE notifications SET alert_id = NULL WHERE alert_id IN ({unsent})")  # their notices stay
    op.execute("DELETE FROM alerts WHERE kind = 'letter_unsent'")
    op.drop_constraint(op.f("ck_alerts_letter_unsent_names_it"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_BEFORE})")
    op.drop_constraint(op.f("fk_alerts_letter_id_letters"), "alerts", type_="foreignkey")
    op.drop_column("alerts", "letter_id")

    op.execute(GUARD_BEFORE)
    for name in LETTER_CHECKS:
        op.drop_constraint(op.f(f"ck_letters_{name}"), "letters", type_="check")
    op.drop_constraint(op.f("fk_letters_sent_event_id_case_events"), "letters", type_="foreignkey")
    op.drop_column("letters", "sent_density_statement")
    op.drop_column("letters", "sent_density")
    op.drop_column("letters", "sent_event_id")
