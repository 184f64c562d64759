"""The alerts table: at most one unresolved alert per step, per dead-lettered notification, per
case with a stalled run request and per letter not sent, each enforced by a partial unique index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, SmallInteger, String, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - tables its foreign keys point at
import tracking.letters.models  # noqa: F401
import tracking.runs.models  # noqa: F401
from tracking.base import moment
from tracking.pathway.vocabulary import AlertKind, AlertStatus, check_values


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(30), nullable=False, default=AlertKind.overdue_step)
    step_id: int | None = Field(default=None, foreign_key="steps.id", nullable=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    # The notifications table points back at alerts, so this key is added after both tables exist.
    notification_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("notifications.id", use_alter=True, name="fk_alerts_notification_id_notifications")
        ),
    )
    case_run_id: int | None = Field(default=None, foreign_key="case_runs.id", nullable=True)
    letter_id: int | None = Field(default=None, foreign_key="letters.id", nullable=True)  # letter_unsent
    level: int = Field(default=1, sa_type=SmallInteger, nullable=False)
    status: str = Field(sa_type=String(20), nullable=False, default=AlertStatus.open)
    raised_at: datetime = moment()
    escalated_at: datetime | None = moment(nullable=True)
    # When the level next rises (the pathway's next threshold after the step's due time), NULL at level 3
    # and for alerts that never escalate. Written by the sweep (tracking/alerts/sweep.py), read by its
    # incremental pass with snoozed_until: an alert is looked at again only once one of them has passed.
    next_escalation_at: datetime | None = moment(nullable=True)
    acknowledged_by: str | None = Field(default=None, sa_type=String(120), nullable=True)
    acknowledged_at: datetime | None = moment(nullable=True)
    acknowledge_reason: str | None = Field(default=None, sa_type=String(500), nullable=True)
    snoozed_until: datetime | None = moment(nullable=True)
    resolved_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 3", name="level"),
        CheckConstraint(f"kind IN ({check_values(AlertKind)})", name="kind"),
        CheckConstraint("(kind = 'overdue_step') = (step_id IS NOT NULL)", name="step_iff_overdue_step"),
        CheckConstraint("kind <> 'delivery_failed' OR notification_id IS NOT NULL", name="delivery_failed_names_it"),
        CheckConstraint("kind <> 'run_stalled' OR case_run_id IS NOT NULL", name="run_stalled_names_it"),
        CheckConstraint("(kind = 'letter_unsent') = (letter_id IS NOT NULL)", name="letter_unsent_names_it"),
        CheckConstraint(f"status IN ({check_values(AlertStatus)})", name="status"),
        CheckConstraint(
            "status <> 'acknowledged' OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL "
            "AND length(trim(coalesce(acknowledge_reason, ''))) > 0)",
            name="acknowledged_needs_who_and_why",
        ),
        CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_at_iff_resolved"),
        # The incremental sweep's two reads of alerts due another look (ADR 12).
        Index(
            "ix_alerts_next_escalation",
            "next_escalation_at",
            postgresql_where=text("status <> 'resolved' AND snoozed_until IS NULL"),
        ),
        Index(
            "ix_alerts_snoozed_until",
            "snoozed_until",
            postgresql_where=text("status <> 'resolved' AND snoozed_until IS NOT NULL"),
        ),
        Index(
            "uq_alerts_one_unresolved_per_step",
            "step_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index(
            "uq_alerts_one_unresolved_per_notification",
            "notification_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index(
            "uq_alerts_one_unresolved_per_letter",
            "letter_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index(
            "uq_alerts_one_unresolved_stalled_run_per_case",
            "case_id",
            unique=True,
            postgresql_where=text("kind = 'run_stalled' AND status <> 'resolved'"),
        ),
        Index(
            "uq_alerts_one_unresolved_stalled_case_per_case",
            "case_id",
            unique=True,
            postgresql_where=text("kind = 'case_stalled' AND status <> 'resolved'"),
        ),
        # Without reading every unresolved overdue alert (0017): the unsent-letter check's unresolved
        # alerts, and the worklist's panels of unresolved case alerts (stuck work, stalled cases), oldest first.
        Index(
            "ix_alerts_letter_unsent",
            "letter_id",
            postgresql_where=text("kind = 'letter_unsent' AND status <> 'resolved'"),
        ),
        Index(
            "ix_alerts_unresolved_case_alerts",
            "raised_at",
            "id",
            postgresql_where=text("status <> 'resolved' AND kind <> 'overdue_step'"),
        ),
    )
