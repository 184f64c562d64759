"""The case_runs table: written in the same transaction as the event that asks for a run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - tables its foreign keys point at
from tracking.base import moment
from tracking.pathway.vocabulary import CaseRunStatus, check_values


class CaseRun(SQLModel, table=True):
    __tablename__ = "case_runs"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    event_id: int | None = Field(default=None, foreign_key="case_events.id", nullable=True)
    reason: str = Field(sa_type=String(60), nullable=False)
    status: str = Field(sa_type=String(20), nullable=False, default=CaseRunStatus.pending)
    requested_at: datetime = moment()
    attempts: int = Field(default=0, nullable=False)  # every try
    failures: int = Field(default=0, nullable=False)  # deterministic failures; outages never count
    next_attempt_at: datetime = moment()  # backoff after a failure of either kind
    finished_at: datetime | None = moment(nullable=True)
    flow_run_id: str | None = Field(default=None, sa_type=String(64), nullable=True)
    last_error: str | None = Field(default=None, sa_type=String(1000), nullable=True)

    __table_args__ = (
        CheckConstraint(f"status IN ({check_values(CaseRunStatus)})", name="status"),
        CheckConstraint("(status = 'pending') = (finished_at IS NULL)", name="finished_at_iff_finished"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("failures BETWEEN 0 AND attempts", name="failures_within_attempts"),
        Index("ix_case_runs_pending", "id", postgresql_where=text("status = 'pending'")),
        Index("ix_case_runs_failed", "case_id", postgresql_where=text("status = 'failed'")),
    )
