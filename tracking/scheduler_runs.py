"""When each scheduled job last ran, kept in PostgreSQL so a new leader keeps the same rhythm."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlmodel import Field, SQLModel

from tracking.base import moment


class SchedulerJobRun(SQLModel, table=True):
    """One row per scheduled job: its last start and how that run ended."""

    __tablename__ = "scheduler_job_runs"

    job: str = Field(sa_type=String(60), primary_key=True)
    last_started_at: datetime = moment()
    last_finished_at: datetime | None = moment(nullable=True)
    last_outcome: str | None = Field(default=None, sa_type=String(20), nullable=True)
    last_error: str | None = Field(default=None, sa_type=String(1000), nullable=True)

    __table_args__ = (
        CheckConstraint("last_outcome IN ('succeeded', 'failed')", name="last_outcome"),
    )
