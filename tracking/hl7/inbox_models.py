"""The HL7 inbox table: what a received message would do, waiting for a navigator or radiologist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, String, text
from sqlmodel import Field, SQLModel

import tracking.alerts.models  # noqa: F401 - tables its foreign keys point at
import tracking.cases.models  # noqa: F401
from tracking.base import json_column, moment
from tracking.pathway.vocabulary import HL7InboxKind, HL7InboxStatus, check_values


class HL7InboxItem(SQLModel, table=True):
    """One proposal from one received message. `payload` is what confirming records (an event's
    data, a case opening, contact details), prefilled from the message and editable; `details`
    is what a person needs to judge it (codes, the report's words, the candidate steps)."""

    __tablename__ = "hl7_inbox_items"

    id: int | None = Field(default=None, primary_key=True)
    # The stored message (hl7_messages.id); its foreign key is added with that table.
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    case_id: int | None = Field(default=None, foreign_key="cases.id", nullable=True, index=True)
    patient_id: int | None = Field(default=None, foreign_key="patients.id", nullable=True)
    kind: str = Field(sa_type=String(30), nullable=False)
    reason: str = Field(sa_type=String(1000), nullable=False)
    event_kind: str | None = Field(default=None, sa_type=String(40), nullable=True)
    payload: dict[str, Any] = json_column()
    details: dict[str, Any] = json_column()
    occurred_at: datetime | None = moment(nullable=True)  # when it happened, per the message
    status: str = Field(sa_type=String(20), nullable=False, default=HL7InboxStatus.open)
    created_at: datetime = moment()
    decided_by: str | None = Field(default=None, sa_type=String(120), nullable=True)
    decided_at: datetime | None = moment(nullable=True)
    dismiss_reason: str | None = Field(default=None, sa_type=String(500), nullable=True)
    resulting_event_id: int | None = Field(default=None, foreign_key="case_events.id", nullable=True)
    alert_id: int | None = Field(default=None, foreign_key="alerts.id", nullable=True)

    __table_args__ = (
        CheckConstraint(f"kind IN ({check_values(HL7InboxKind)})", name="kind"),
        CheckConstraint(f"status IN ({check_values(HL7InboxStatus)})", name="status"),
        CheckConstraint("(kind = 'record_event') = (event_kind IS NOT NULL)", name="event_kind_iff_record_event"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_not_blank"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_at_iff_decided"),
        CheckConstraint("(decided_at IS NULL) = (decided_by IS NULL)", name="decided_by_with_decided_at"),
        CheckConstraint(
            "status <> 'dismissed' OR length(trim(coalesce(dismiss_reason, ''))) > 0", name="dismissed_needs_reason"
        ),
        CheckConstraint("status = 'confirmed' OR resulting_event_id IS NULL", name="event_only_when_confirmed"),
        CheckConstraint("jsonb_typeof(payload) = 'object'", name="payload_is_object"),
        CheckConstraint("jsonb_typeof(details) = 'object'", name="details_is_object"),
        Index("ix_hl7_inbox_items_open", "created_at", postgresql_where=text("status = 'open'")),
    )
