"""The screening recall list: routine screening handed off when a diagnostic case closed.

When a case closes, its annual screening step becomes `handed_off`: the diagnostic case no longer
owns it, but the patient is still owed the exam. The recall list shows each handed-off screening
step of a closed case, earliest due first, until it is completed (`screening_done`) or cancelled;
past its due time the sweep raises an overdue_step alert on it (tracking/alerts/sweep.py). Read
through the partial index `ix_steps_handed_off_due`.

One query for the CLI (`workup screening`), the API (`GET /api/screening`) and the page
(`/screening`); each view is audited with the case ids it showed (`screening.listed`). Patient
names and MRNs are read for the page only: `as_dict` leaves them out unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from tracking.alerts.models import Alert
from tracking.audit import audit
from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case, Patient, Step
from tracking.cases.queries import COUNT_CAP, DueLateness, shown_case_ids
from tracking.cases.windows import window_fields
from tracking.pathway.vocabulary import AlertStatus, CaseStatus, StepStatus
from tracking.users.models import User

MAX_DUE_WITHIN_DAYS = 3650


@dataclass(frozen=True)
class RecallFilters:
    """Which handed-off screening to list: everything, only the overdue, or due within N days
    (overdue included)."""

    overdue_only: bool = False
    due_within_days: int | None = None

    def check(self) -> None:
        if self.overdue_only and self.due_within_days is not None:
            raise InvalidInput("give overdue or due within DAYS, not both")
        if self.due_within_days is not None and not 0 <= self.due_within_days <= MAX_DUE_WITHIN_DAYS:
            raise InvalidInput(f"due within must be 0 to {MAX_DUE_WITHIN_DAYS} days, not {self.due_within_days}")

    def conditions(self, now: datetime) -> list:
        if self.overdue_only:
            return [Step.due_at < now]
        if self.due_within_days is not None:
            return [Step.due_at < now + timedelta(days=self.due_within_days)]
        return []


@dataclass(frozen=True)
class ScreeningDue(DueLateness):
    """One handed-off screening step on the recall list."""

    case_id: int
    step_id: int
    kind: str
    laterality: str | None
    due_at: datetime  # overdue after this: the end of the screening's window
    target_at: datetime | None  # the target date inside the window (tracking/cases/windows.py)
    case_closed_at: datetime | None
    mrn: str
    patient_name: str
    alert_level: int | None
    now: datetime
    navigator: str | None = None

    def as_dict(self, include_phi: bool = False) -> dict:
        data = {
            "case_id": self.case_id,
            "step_id": self.step_id,
            "step": self.kind,
            "laterality": self.laterality,
            "due_at": self.due_at.isoformat(),
            **window_fields(self),
            "overdue": self.is_overdue,
            "days_overdue": self.days_overdue,
            "alert_level": self.alert_level,
            "case_closed_at": self.case_closed_at.isoformat() if self.case_closed_at else None,
            "navigator": self.navigator,
        }
        if include_phi:
            data |= {"mrn": self.mrn, "patient": self.patient_name}
        return data


def on_the_list() -> tuple:
    """A step is on the recall list while it is handed off and its case closed (the sweep's rule too)."""
    return (Step.status == StepStatus.handed_off, Case.status == CaseStatus.closed)


def _handed_off_screening():
    """Handed-off steps of closed cases, with what each row shows."""
    alert_level = (
        select(func.max(Alert.level))
        .where(Alert.step_id == Step.id, Alert.status != AlertStatus.resolved)
        .scalar_subquery()
    )
    return (
        select(Step, Case.closed_at, Patient.mrn, Patient.given_name, Patient.family_name, alert_level, User.username)
        .join(Case, Case.id == Step.case_id)
        .join(Patient, Patient.id == Case.patient_id)
        .join(User, User.id == Case.navigator_id, isouter=True)
        .where(*on_the_list())
    )


def screening_recall(
    session: Session,
    now: datetime,
    *,
    actor: str,
    filters: RecallFilters | None = None,
    offset: int = 0,
    limit: int | None = 200,
) -> tuple[list[ScreeningDue], int]:
    """One page of the recall list (every row when `limit` is None), earliest due first, and how many
    match, counted up to COUNT_CAP + 1. Audited as a view of the cases shown, in the caller's transaction."""
    filters = filters or RecallFilters()
    filters.check()
    conditions = filters.conditions(now)
    query = _handed_off_screening().where(*conditions).order_by(Step.due_at, Step.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = [
        ScreeningDue(
            case_id=step.case_id,
            step_id=step.id,
            kind=step.kind,
            laterality=step.laterality,
            due_at=step.due_at,
            target_at=step.target_at,
            case_closed_at=closed_at,
            mrn=mrn,
            patient_name=f"{family}, {given}",
            alert_level=alert_level,
            now=now,
            navigator=navigator,
        )
        for step, closed_at, mrn, given, family, alert_level, navigator in session.exec(query)
    ]
    if limit is None and offset == 0:
        total = len(rows)
    else:
        matching = select(Step.id).join(Case, Case.id == Step.case_id).where(*on_the_list(), *conditions)
        total = session.exec(select(func.count()).select_from(matching.limit(COUNT_CAP + 1).subquery())).one()
    audit(session, actor=actor, action="screening.listed", at=now, count=len(rows), overdue=filters.overdue_only,
          due_within_days=filters.due_within_days, case_ids=shown_case_ids(rows))  # fmt: skip
    return rows, total


def overdue_count(session: Session, now: datetime) -> int:
    """How many handed-off screening steps are past their due date (a count: no case is shown)."""
    query = select(func.count()).select_from(Step).join(Case, Case.id == Step.case_id)
    return session.exec(query.where(*on_the_list(), Step.due_at < now)).one()
