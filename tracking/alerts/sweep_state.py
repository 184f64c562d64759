"""What the sweep remembers between runs, so that a run reads only what can have changed (ADR 12).

- `sweep_state`: one row per sweep (`alerts` for the overdue, stuck-work and stalled-case sweep):
  the moment it last swept (its watermark), when it last made a full pass, and the hash of the
  pathway rules it swept under. Every sweep locks its row first, so sweeps run one at a time.
- `sweep_changes`: the change log, filled by triggers (migration 0015), never by the application:
  a step inserted open, or its status, due time, kind or case changed, or deleted; a case's status
  or pathway changed; a navigator task added, closed, re-dated or deleted; an alert resolved,
  un-resolved or deleted while unresolved. `step_id` is NULL when the change is about the case.
  The sweep claims the log by deleting what it sees (tracking/alerts/sweep_window.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, String
from sqlmodel import Field, SQLModel

from tracking.base import moment


class SweepState(SQLModel, table=True):
    __tablename__ = "sweep_state"

    name: str = Field(sa_type=String(40), primary_key=True)
    last_swept_at: datetime | None = moment(nullable=True)
    last_full_at: datetime | None = moment(nullable=True)
    rules_hash: str | None = Field(default=None, sa_type=String(64), nullable=True)


class SweepChange(SQLModel, table=True):
    __tablename__ = "sweep_changes"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    case_id: int = Field(sa_column=Column(Integer, nullable=False))
    step_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
