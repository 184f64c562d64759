"""Steps with what a Task or a ServiceRequest shows of their case: one joined query, never one per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from tracking.cases.models import Case, CaseEvent, Step
from tracking.users.models import User

Created = aliased(CaseEvent, name="created_by")


@dataclass(frozen=True)
class StepRow:
    step: Step
    patient_id: int
    pathway_name: str
    pathway_version: int
    navigator_id: int | None
    navigator_name: str | None
    authored_at: datetime  # when the event that created the step was recorded


def step_query() -> Any:
    return (
        select(Step, Case.patient_id, Case.pathway_name, Case.pathway_version, Case.navigator_id,
               User.display_name, Created.recorded_at)
        .join(Case, Case.id == Step.case_id)
        .join(Created, Created.id == Step.created_by_event_id)
        .outerjoin(User, User.id == Case.navigator_id)
    )  # fmt: skip


def step_row(row: Any) -> StepRow:
    return StepRow(*row)


def count_steps(conditions: list[Any], *, of_cases: bool) -> Any:
    """How many steps meet `conditions`: the count without step_query's joins, but cases when a condition
    is on a case (`of_cases`)."""
    counted = select(func.count()).select_from(Step)
    return (counted.join(Case, Case.id == Step.case_id) if of_cases else counted).where(*conditions)
