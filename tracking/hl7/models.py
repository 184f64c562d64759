"""The message log: every HL7 message received, with its outcome, kept for WORKUP_HL7_RETENTION_DAYS.

`raw` is the message as it came (PHI: never logged, never shown on a page, never copied into the
audit log). A message that could be read has its sender (MSH-3^MSH-4), control id (MSH-10), type
and trigger (MSH-9), version (MSH-12) and the codec it was read in; a malformed one may have
none of them and is kept as rejected. Idempotency: one message per (sender, control id) that was
not rejected (partial unique index); a duplicate only counts in `duplicates`.

`case_id` points at the case the interpreter applied or proposed it to: a plain foreign key, as for
every other table, since cases are never deleted (their append-only events point at them).
`inbox_item_id` is the HL7 inbox item of a queued message (no foreign key here: the inbox is its
own module).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, LargeBinary, String, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - messages point at cases
from tracking.base import moment
from tracking.hl7.ack import AckCode
from tracking.hl7.interpretation import MessageOutcome
from tracking.pathway.vocabulary import check_values

MAX_DETAIL = 1000
STORED_ACK_CODES = (AckCode.accepted, AckCode.rejected)  # an AE message was not stored


class HL7Message(SQLModel, table=True):
    __tablename__ = "hl7_messages"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = moment(index=True)
    sender: str | None = Field(default=None, sa_type=String(201), nullable=True)  # MSH-3^MSH-4
    control_id: str | None = Field(default=None, sa_type=String(199), nullable=True)  # MSH-10
    message_type: str | None = Field(default=None, sa_type=String(20), nullable=True)  # MSH-9.1
    trigger_event: str | None = Field(default=None, sa_type=String(20), nullable=True)  # MSH-9.2
    version: str | None = Field(default=None, sa_type=String(20), nullable=True)  # MSH-12
    charset: str | None = Field(default=None, sa_type=String(40), nullable=True)  # the codec it was read in
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    outcome: str = Field(sa_type=String(20), nullable=False)
    detail: str = Field(default="", sa_type=String(MAX_DETAIL), nullable=False)
    case_id: int | None = Field(default=None, foreign_key="cases.id", nullable=True, index=True)
    inbox_item_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    ack_code: str = Field(sa_type=String(2), nullable=False)
    duplicates: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": text("0")})

    __table_args__ = (
        CheckConstraint(f"outcome IN ({check_values(MessageOutcome)})", name="outcome"),
        CheckConstraint(
            f"ack_code IN ({', '.join(repr(code.value) for code in STORED_ACK_CODES)})", name="ack_code"
        ),  # fmt: skip
        CheckConstraint(
            "outcome = 'rejected' OR (sender IS NOT NULL AND control_id IS NOT NULL AND message_type IS NOT NULL)",
            name="read_unless_rejected",
        ),
        CheckConstraint("duplicates >= 0", name="duplicates_not_negative"),
        Index(
            "uq_hl7_messages_sender_control_id",
            "sender",
            "control_id",
            unique=True,
            postgresql_where=text("outcome <> 'rejected'"),
        ),  # fmt: skip
        Index("ix_hl7_messages_outcome_received_at", "outcome", "received_at"),
    )
