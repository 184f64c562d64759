"""Case notes (append-only) and navigator tasks ("call back Thursday").

Neither is clinical: the pathway never reads them. An open task that is not yet past its due time
counts as a dated next item for the no-silent-stall rule (tracking/alerts/stalled_cases.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - notes and tasks point at cases
from tracking.base import moment
from tracking.pathway.vocabulary import check_values

NOTE_MAX_LENGTH = 4000
TASK_TITLE_MAX_LENGTH = 200


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class CaseNote(SQLModel, table=True):
    """A navigator's note on a case ("left voicemail, will try after 5"). Append-only."""

    __tablename__ = "case_notes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    author: str = Field(sa_type=String(120), nullable=False)
    body: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = moment()

    __table_args__ = (CheckConstraint(f"length(trim(body)) BETWEEN 1 AND {NOTE_MAX_LENGTH}", name="body_length"),)


class NavigatorTask(SQLModel, table=True):
    """Something a navigator must do by a date, on one case."""

    __tablename__ = "navigator_tasks"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    title: str = Field(sa_type=String(TASK_TITLE_MAX_LENGTH), nullable=False)
    due_at: datetime = moment()
    assignee: str | None = Field(default=None, sa_type=String(120), nullable=True)  # a username; None: the team
    status: str = Field(sa_type=String(20), nullable=False, default=TaskStatus.open)
    created_by: str = Field(sa_type=String(120), nullable=False)
    created_at: datetime = moment()
    closed_by: str | None = Field(default=None, sa_type=String(120), nullable=True)
    closed_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint(f"status IN ({check_values(TaskStatus)})", name="status"),
        CheckConstraint("length(trim(title)) > 0", name="title_not_blank"),
        CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_at_iff_closed"),
        Index("ix_navigator_tasks_open_due", "case_id", "due_at", postgresql_where=text("status = 'open'")),
        # Open tasks by due time alone: the incremental sweep reads the tasks whose due time passed (ADR 12).
        Index("ix_navigator_tasks_open_by_due", "due_at", postgresql_where=text("status = 'open'")),
    )
