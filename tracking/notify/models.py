"""The notifications outbox. Rows hold ids, never patient data; messages are rendered at delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, text
from sqlmodel import Field, SQLModel

import tracking.alerts.models  # noqa: F401 - tables its foreign keys point at
import tracking.cases.models  # noqa: F401
from tracking.base import json_column, moment
from tracking.pathway.vocabulary import NotificationChannel, NotificationStatus, check_values


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(40), nullable=False)
    channel: str = Field(sa_type=String(20), nullable=False)
    recipient: str = Field(sa_type=String(500), nullable=False)
    case_id: int | None = Field(default=None, foreign_key="cases.id", nullable=True, index=True)
    step_id: int | None = Field(default=None, foreign_key="steps.id", nullable=True)
    alert_id: int | None = Field(default=None, foreign_key="alerts.id", nullable=True)
    facility_id: int | None = Field(default=None, foreign_key="outside_facilities.id", nullable=True)
    payload: dict[str, Any] = json_column()
    dedupe_key: str = Field(sa_type=String(300), unique=True, nullable=False)
    status: str = Field(sa_type=String(20), nullable=False, default=NotificationStatus.pending)
    attempts: int = Field(default=0, nullable=False)  # every try
    failures: int = Field(default=0, nullable=False)  # tries the receiver refused; these count toward dead-letter
    next_attempt_at: datetime = moment()
    last_error: str | None = Field(default=None, sa_type=String(1000), nullable=True)
    created_at: datetime = moment()
    delivered_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint(f"channel IN ({check_values(NotificationChannel)})", name="channel"),
        CheckConstraint(f"status IN ({check_values(NotificationStatus)})", name="status"),
        CheckConstraint("(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_at_iff_delivered"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("failures BETWEEN 0 AND attempts", name="failures_within_attempts"),
        Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_notifications_dead", "id", postgresql_where=text("status = 'dead'")),
    )
