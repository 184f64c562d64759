"""Read services: a case's full history, the overdue list and the navigator worklist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from tracking.alerts.models import Alert
from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case, CaseEvent, OutsideFacility, Patient, PriorFilmRequest, Step
from tracking.cases.windows import window_fields
from tracking.pathway.definition import all_step_titles
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, AlertStatus, CaseStatus
from tracking.users.models import User

ACTIVE_CASE_STATUSES = (CaseStatus.open.value, CaseStatus.lost_to_follow_up.value)


@dataclass
class CaseHistory:
    case: Case
    patient: Patient
    steps: list[Step]
    events: list[CaseEvent]
    prior_film_requests: list[tuple[PriorFilmRequest, OutsideFacility]]
    alerts: list[Alert]


def case_history(session: Session, case_id: int, *, actor: str, now: datetime) -> CaseHistory:
    """The case with its patient, steps, events, prior-film requests and alerts; audited as a view."""
    row = session.exec(select(Case, Patient).join(Patient).where(Case.id == case_id)).first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    case, patient = row
    steps = session.exec(select(Step).where(Step.case_id == case_id).order_by(Step.due_at, Step.id))
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.occurred_at, CaseEvent.id)
    )
    priors = session.exec(
        select(PriorFilmRequest, OutsideFacility)
        .join(OutsideFacility)
        .where(PriorFilmRequest.case_id == case_id)
        .order_by(OutsideFacility.name)
    )
    alerts = session.exec(select(Alert).where(Alert.case_id == case_id).order_by(Alert.raised_at))
    audit(session, actor=actor, action="case.viewed", at=now, case_id=case_id)
    return CaseHistory(case, patient, list(steps), list(events), list(priors), list(alerts))


class DueLateness:
    """How late a listed step is as of the list's `now` (its `due_at` is when it became overdue)."""

    now: datetime
    due_at: datetime

    @property
    def days_overdue(self) -> int:
        return max(0, (self.now - self.due_at).days)

    @property
    def is_overdue(self) -> bool:
        return self.due_at < self.now


@dataclass(frozen=True)
class StepDue(DueLateness):
    """One open step on the worklist or the overdue list."""

    case_id: int
    step_id: int
    kind: str
    laterality: str | None
    due_at: datetime
    scheduled_at: datetime | None
    case_status: str
    birads: str
    mrn: str
    patient_name: str
    alert_level: int | None
    now: datetime
    navigator: str | None = None
    target_at: datetime | None = None  # a follow-up's target date; due_at is the end of its window

    def as_dict(self, include_phi: bool = True) -> dict:
        data = {
            "case_id": self.case_id,
            "step_id": self.step_id,
            "step": self.kind,
            "laterality": self.laterality,
            "due_at": self.due_at.isoformat(),
            **window_fields(self),
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "days_overdue": self.days_overdue,
            "case_status": self.case_status,
            "birads": self.birads,
            "alert_level": self.alert_level,
            "navigator": self.navigator,
        }
        if include_phi:
            data |= {"mrn": self.mrn, "patient": self.patient_name}
        return data


def _open_steps_query():
    unresolved_alert = (
        select(func.max(Alert.level))
        .where(Alert.step_id == Step.id, Alert.status != AlertStatus.resolved)
        .scalar_subquery()
    )
    return (
        select(
            Step,
            Case.status,
            Case.birads,
            Patient.mrn,
            Patient.given_name,
            Patient.family_name,
            unresolved_alert,
            User.username,
        )
        .join(Case, Case.id == Step.case_id)
        .join(Patient, Patient.id == Case.patient_id)
        .join(User, User.id == Case.navigator_id, isouter=True)
        .where(col(Step.status).in_(OPEN_STEP_STATUSES), col(Case.status).in_(ACTIVE_CASE_STATUSES))
    )


def _rows(session: Session, query, now: datetime) -> list[StepDue]:
    return [
        StepDue(
            case_id=step.case_id,
            step_id=step.id,
            kind=step.kind,
            laterality=step.laterality,
            due_at=step.due_at,
            target_at=step.target_at,
            scheduled_at=step.scheduled_at,
            case_status=status,
            birads=birads,
            mrn=mrn,
            patient_name=f"{family}, {given}",
            alert_level=alert_level,
            now=now,
            navigator=navigator,
        )
        for step, status, birads, mrn, given, family, alert_level, navigator in session.exec(query)
    ]


def shown_case_ids(rows: Iterable[Any]) -> list[int]:
    """The distinct case ids of listed rows (dicts or objects with case_id), for a view's audit row.

    One audit row per view holds them all (`detail.case_ids`, ids only), so "who saw case X" is
    answerable for list views and exports too (tracking/web/routes_audit.py searches it).
    """
    ids = {row["case_id"] if isinstance(row, Mapping) else row.case_id for row in rows}
    return sorted(case_id for case_id in ids if case_id is not None)


def list_overdue(
    session: Session,
    now: datetime,
    *,
    actor: str,
    step_kind: str | None = None,
    older_than_days: int | None = None,
    limit: int | None = None,
) -> list[StepDue]:
    """Open steps of active cases past their due time, most overdue first."""
    known = all_step_titles()
    if step_kind is not None and step_kind not in known:
        raise InvalidInput(f"unknown step kind {step_kind!r}; known: {', '.join(sorted(known))}")
    if older_than_days is not None and older_than_days < 0:
        raise InvalidInput("--older-than must be 0 or more days")
    cutoff = now - timedelta(days=older_than_days or 0)
    query = _open_steps_query().where(Step.due_at < cutoff)
    if step_kind:
        query = query.where(Step.kind == step_kind)
    query = query.order_by(Step.due_at, Step.id)
    if limit:
        query = query.limit(limit)
    rows = _rows(session, query, now)
    audit(session, actor=actor, action="overdue.listed", at=now, count=len(rows), step_kind=step_kind,
          case_ids=shown_case_ids(rows))  # fmt: skip
    return rows


@dataclass(frozen=True)
class WorklistFilters:
    step_kind: str | None = None
    navigator: str | None = None  # a username
    facility_id: int | None = None
    lateness: str | None = None  # one of LATENESS
    due_within_days: int = 30


LATENESS = {
    "overdue": "Overdue (any)",
    "overdue_1_7": "Overdue 1-7 days",
    "overdue_8_30": "Overdue 8-30 days",
    "overdue_31_plus": "Overdue over 30 days",
    "due_7": "Due within 7 days",
}


COUNT_CAP = 10_000


def worklist(
    session: Session,
    now: datetime,
    *,
    actor: str,
    filters: WorklistFilters | None = None,
    offset: int = 0,
    limit: int = 200,
    due_within_days: int | None = None,
) -> tuple[list[StepDue], int]:
    """The navigator worklist: overdue steps first (most overdue on top), then steps due soon.

    Returns one page of rows and how many match, counted up to COUNT_CAP + 1 (a page shows
    "10,000+" rather than paying to count a regional network's whole backlog on every view).
    """
    filters = filters or WorklistFilters()
    horizon = now + timedelta(days=due_within_days if due_within_days is not None else filters.due_within_days)
    conditions = [Step.due_at < horizon, *_filter_conditions(filters, now)]
    rows = _rows(session, _open_steps_query().where(*conditions).order_by(Step.due_at, Step.id)
                 .offset(offset).limit(limit), now)  # fmt: skip
    matching = (
        select(Step.id)
        .join(Case, Case.id == Step.case_id)
        .where(col(Step.status).in_(OPEN_STEP_STATUSES), col(Case.status).in_(ACTIVE_CASE_STATUSES), *conditions)
    )
    if filters.navigator:
        matching = matching.join(User, User.id == Case.navigator_id)
    total = session.exec(select(func.count()).select_from(matching.limit(COUNT_CAP + 1).subquery())).one()
    audit(session, actor=actor, action="worklist.viewed", at=now, count=len(rows), case_ids=shown_case_ids(rows))
    return rows, total


def _filter_conditions(filters: WorklistFilters, now: datetime) -> list:
    conditions = []
    if filters.step_kind:
        if filters.step_kind not in all_step_titles():
            raise InvalidInput(f"unknown step kind {filters.step_kind!r}")
        conditions.append(Step.kind == filters.step_kind)
    if filters.navigator:
        conditions.append(User.username == filters.navigator)
    if filters.facility_id:
        at_facility = select(PriorFilmRequest.case_id).where(PriorFilmRequest.facility_id == filters.facility_id)
        conditions.append(col(Step.case_id).in_(at_facility))
    if filters.lateness:
        if filters.lateness not in LATENESS:
            raise InvalidInput(f"unknown lateness {filters.lateness!r}; choose one of {', '.join(LATENESS)}")
        conditions.extend(_lateness(filters.lateness, now))
    return conditions


def lateness_bounds(lateness: str, now: datetime) -> tuple[datetime | None, datetime]:
    """[low, high) of the due time for a LATENESS bucket (low None: no lower bound)."""
    if lateness not in LATENESS:
        raise ValueError(f"unknown lateness {lateness!r}")
    day = timedelta(days=1)
    return {
        "overdue": (None, now),
        "overdue_1_7": (now - 8 * day, now - day),
        "overdue_8_30": (now - 31 * day, now - 8 * day),
        "overdue_31_plus": (None, now - 31 * day),
        "due_7": (now, now + 7 * day),
    }[lateness]


def _lateness(lateness: str, now: datetime) -> list:
    bounds = lateness_bounds(lateness, now)
    conditions = []
    if bounds[0] is not None:
        conditions.append(Step.due_at >= bounds[0])
    conditions.append(Step.due_at < bounds[1])
    return conditions


def other_open_cases(session: Session, patient_id: int, case_id: int) -> int:
    """How many open or lost cases the patient has besides `case_id` (for the "added to her" banner)."""
    return session.exec(
        select(func.count()).select_from(Case)
        .where(Case.patient_id == patient_id, Case.id != case_id, col(Case.status).in_(ACTIVE_CASE_STATUSES))
    ).one()  # fmt: skip
