"""The HL7 message log: every message received from the RIS, with its outcome.

Reviewed by hand.
- `hl7_messages`: one row per message received over MLLP or imported from a file: when, the
  sender (MSH-3^MSH-4), control id (MSH-10), type and trigger (MSH-9), version (MSH-12), the codec
  it was read in, the bytes as received (PHI), the outcome (applied, queued, ignored, rejected)
  and its detail in plain words, the case and HL7 inbox item it led to, the ACK code (AA or AR; an
  AE message was not stored) and how many duplicates came after it.
- A message that could not be read is kept as rejected, its header columns possibly null; every
  other row has its sender, control id and type (CHECK).
- Idempotency by control id per sender: a partial unique index over (sender, control_id) of the
  messages not rejected; a rejected message sent again is read again.
- An index on received_at (the log, newest first, and pruning past the retention) and on
  (outcome, received_at) for the log filtered by outcome; case_id is indexed for its foreign key.
- No trigger: pruning past WORKUP_HL7_RETENTION_DAYS deletes rows, and the inbox updates the
  outcome of a queued message once a person has confirmed it. No existing rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hl7_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=201), nullable=True),
        sa.Column("control_id", sa.String(length=199), nullable=True),
        sa.Column("message_type", sa.String(length=20), nullable=True),
        sa.Column("trigger_event", sa.String(length=20), nullable=True),
        sa.Column("version", sa.String(length=20), nullable=True),
        sa.Column("charset", sa.String(length=40), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("inbox_item_id", sa.BigInteger(), nullable=True),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('applied', 'queued', 'ignored', 'rejected')", name=op.f("ck_hl7_messages_outcome")
        ),
        sa.CheckConstraint("ack_code IN ('AA', 'AR')", name=op.f("ck_hl7_messages_ack_code")),
        sa.CheckConstraint(
            "outcome = 'rejected' OR (sender IS NOT NULL AND control_id IS NOT NULL AND message_type IS NOT NULL)",
            name=op.f("ck_hl7_messages_read_unless_rejected"),
        ),
        sa.CheckConstraint("duplicates >= 0", name=op.f("ck_hl7_messages_duplicates_not_negative")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hl7_messages_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_messages")),
    )
    op.create_index(op.f("ix_hl7_messages_received_at"), "hl7_messages", ["received_at"], unique=False)
    op.create_index(op.f("ix_hl7_messages_case_id"), "hl7_messages", ["case_id"], unique=False)
    op.create_index("ix_hl7_messages_outcome_received_at", "hl7_messages", ["outcome", "received_at"], unique=False)
    op.create_index(
        "uq_hl7_messages_sender_control_id",
        "hl7_messages",
        ["sender", "control_id"],
        unique=True,
        postgresql_where=sa.text("outcome <> 'rejected'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_hl7_messages_sender_control_id",
        table_name="hl7_messages",
        postgresql_where=sa.text("outcome <> 'rejected'"),
    )
    op.drop_index("ix_hl7_messages_outcome_received_at", table_name="hl7_messages")
    op.drop_index(op.f("ix_hl7_messages_case_id"), table_name="hl7_messages")
    op.drop_index(op.f("ix_hl7_messages_received_at"), table_name="hl7_messages")
    op.drop_table("hl7_messages")
