"""The HL7 inbox: what a received message would do, waiting for a person.

Reviewed by hand.
- `hl7_inbox_items`: one proposal per received HL7 message that was not applied by itself (an
  unknown patient, two candidate cases, a required field missing, a guard refusal, a result whose
  BI-RADS is only in the report text, a preliminary or corrected result, a merge of identifiers):
  its kind (record an event, open a case, link an accession number, update contact details or
  demographics, merge patients, or review), the reason in words, the prefilled event kind and
  payload (JSONB, editable before confirming), what a person needs to judge it (`details`), and
  who decided, when, how (confirmed or dismissed with a reason) and the event it recorded.
  `message_id` is the stored message's id (hl7_messages, whose foreign key is added with that
  table). A partial index on open items by arrival, for the review page.
- `alerts.kind` gains `corrected_result`: the RIS corrected a result after the final one was
  recorded; it resolves when its inbox item is confirmed or dismissed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_KINDS_BEFORE = "'overdue_step', 'delivery_failed', 'run_stalled', 'case_stalled'"
ALERT_KINDS_AFTER = "'overdue_step', 'delivery_failed', 'run_stalled', 'case_stalled', 'corrected_result'"
INBOX_KINDS = (
    "'record_event', 'open_case', 'link_accession', 'update_contact_details', 'update_demographics', "
    "'merge_patients', 'review'"
)


def upgrade() -> None:
    op.create_table(
        "hl7_inbox_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("event_kind", sa.String(length=40), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismiss_reason", sa.String(length=500), nullable=True),
        sa.Column("resulting_event_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"kind IN ({INBOX_KINDS})", name=op.f("ck_hl7_inbox_items_kind")),
        sa.CheckConstraint("status IN ('open', 'confirmed', 'dismissed')", name=op.f("ck_hl7_inbox_items_status")),
        sa.CheckConstraint(
            "(kind = 'record_event') = (event_kind IS NOT NULL)",
            name=op.f("ck_hl7_inbox_items_event_kind_iff_record_event"),
        ),
        sa.CheckConstraint("length(trim(reason)) > 0", name=op.f("ck_hl7_inbox_items_reason_not_blank")),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)", name=op.f("ck_hl7_inbox_items_decided_at_iff_decided")
        ),
        sa.CheckConstraint(
            "(decided_at IS NULL) = (decided_by IS NULL)", name=op.f("ck_hl7_inbox_items_decided_by_with_decided_at")
        ),
        sa.CheckConstraint(
            "status <> 'dismissed' OR length(trim(coalesce(dismiss_reason, ''))) > 0",
            name=op.f("ck_hl7_inbox_items_dismissed_needs_reason"),
        ),
        sa.CheckConstraint(
            "status = 'confirmed' OR resulting_event_id IS NULL",
            name=op.f("ck_hl7_inbox_items_event_only_when_confirmed"),
        ),
        sa.CheckConstraint("jsonb_typeof(payload) = 'object'", name=op.f("ck_hl7_inbox_items_payload_is_object")),
        sa.CheckConstraint("jsonb_typeof(details) = 'object'", name=op.f("ck_hl7_inbox_items_details_is_object")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hl7_inbox_items_case_id_cases")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_hl7_inbox_items_patient_id_patients")),
        sa.ForeignKeyConstraint(
            ["resulting_event_id"], ["case_events.id"], name=op.f("fk_hl7_inbox_items_resulting_event_id_case_events")
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_hl7_inbox_items_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_inbox_items")),
    )
    op.create_index(op.f("ix_hl7_inbox_items_message_id"), "hl7_inbox_items", ["message_id"], unique=False)
    op.create_index(op.f("ix_hl7_inbox_items_case_id"), "hl7_inbox_items", ["case_id"], unique=False)
    op.create_index(
        "ix_hl7_inbox_items_open",
        "hl7_inbox_items",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_AFTER})")


def downgrade() -> None:
    op.drop_index("ix_hl7_inbox_items_open", table_name="hl7_inbox_items", postgresql_where=sa.text("status = 'open'"))
    op.drop_index(op.f("ix_hl7_inbox_items_case_id"), table_name="hl7_inbox_items")
    op.drop_index(op.f("ix_hl7_inbox_items_message_id"), table_name="hl7_inbox_items")
    op.drop_table("hl7_inbox_items")
    op.execute("DELETE FROM alerts WHERE kind = 'corrected_result'")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", f"kind IN ({ALERT_KINDS_BEFORE})")
