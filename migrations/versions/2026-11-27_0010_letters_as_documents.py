"""Letters as documents: the record of every letter produced.

Reviewed by hand.
- `letters`: one row per letter produced (a lay summary, a report to the referrer, a prior-film
  request, a missed-appointment letter, a follow-up reminder): its case, kind, language, recipient
  (patient, referrer, or a facility by id), channel (print and post, fax, email, portal), who
  produced it and when, the template inputs (JSONB) and the SHA-256 of the PDF's bytes, so the
  exact letter can be rendered again and checked. No existing rows: nothing to backfill.
- Append-only but for "mark sent": a row trigger refuses DELETE, any UPDATE that changes anything
  but status, sent_at and sent_by, and marking a letter sent twice; TRUNCATE is refused with the
  history's function (refuse_change_to_history, migration 0001).
- A partial index on letters not yet sent, by production time, for the letters page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD_FUNCTION = """
CREATE FUNCTION guard_letter_change() RETURNS trigger LANGUAGE plpgsql AS $$
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


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("recipient_kind", sa.String(length=20), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("produced_by", sa.String(length=120), nullable=False),
        sa.Column("produced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.String(length=120), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind IN ('result', 'referrer_report', 'prior_film_request', 'missed_appointment', "
            "'final_missed_appointment', 'followup_reminder')",
            name=op.f("ck_letters_kind"),
        ),
        sa.CheckConstraint(
            "recipient_kind IN ('patient', 'referrer', 'facility')", name=op.f("ck_letters_recipient_kind")
        ),
        sa.CheckConstraint("channel IN ('print_post', 'fax', 'email', 'portal')", name=op.f("ck_letters_channel")),
        sa.CheckConstraint("status IN ('produced', 'sent')", name=op.f("ck_letters_status")),
        sa.CheckConstraint(
            "(recipient_kind = 'facility') = (facility_id IS NOT NULL)", name=op.f("ck_letters_facility_iff_facility")
        ),
        sa.CheckConstraint(
            "(status = 'sent') = (sent_at IS NOT NULL) AND (sent_at IS NULL) = (sent_by IS NULL)",
            name=op.f("ck_letters_sent_iff_sent"),
        ),
        sa.CheckConstraint("pdf_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_letters_pdf_sha256_hex")),
        sa.CheckConstraint("jsonb_typeof(inputs) = 'object'", name=op.f("ck_letters_inputs_is_object")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_letters_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["outside_facilities.id"], name=op.f("fk_letters_facility_id_outside_facilities")
        ),
        sa.ForeignKeyConstraint(["step_id"], ["steps.id"], name=op.f("fk_letters_step_id_steps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
    )
    op.create_index(op.f("ix_letters_case_id"), "letters", ["case_id"], unique=False)
    op.create_index(
        "ix_letters_unsent", "letters", ["produced_at"], unique=False, postgresql_where=sa.text("status = 'produced'")
    )
    op.execute(GUARD_FUNCTION)
    op.execute(
        "CREATE TRIGGER letters_sent_only BEFORE UPDATE OR DELETE ON letters "
        "FOR EACH ROW EXECUTE FUNCTION guard_letter_change()"
    )
    op.execute(
        "CREATE TRIGGER letters_no_truncate BEFORE TRUNCATE ON letters "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_history()"
    )


def downgrade() -> None:
    op.drop_index("ix_letters_unsent", table_name="letters", postgresql_where=sa.text("status = 'produced'"))
    op.drop_index(op.f("ix_letters_case_id"), table_name="letters")
    op.drop_table("letters")  # its triggers go with it
    op.execute("DROP FUNCTION IF EXISTS guard_letter_change()")
