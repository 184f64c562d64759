"""The alerts table: at most one unresolved alert per step, enforced by a partial unique index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, SmallInteger, String, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - tables its foreign keys point at
from tracking.base import moment
from tracking.pathway.vocabulary import AlertStatus, check_values


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="steps.id", nullable=False)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    level: int = Field(default=1, sa_type=SmallInteger, nullable=False)
    status: str = Field(sa_type=String(20), nullable=False, default=AlertStatus.open)
    raised_at: datetime = moment()
    escalated_at: datetime | None = moment(nullable=True)
    acknowledged_by: str | None = Field(default=None, sa_type=String(120), nullable=True)
    acknowledged_at: datetime | None = moment(nullable=True)
    acknowledge_reason: str | None = Field(default=None, sa_type=String(500), nullable=True)
    snoozed_until: datetime | None = moment(nullable=True)
    resolved_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(f"status IN ({check_values(AlertStatus)})", name="status"),
        CheckConstraint(
            "status <> 'acknowledged' OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL "
            "AND length(trim(coalesce(acknowledge_reason, ''))) > 0)",
            name="acknowledged_needs_who_and_why",
        ),
        CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_at_iff_resolved"),
        Index(
            "uq_alerts_one_unresolved_per_step",
            "step_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
    )
