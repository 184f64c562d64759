"""Which step of which case a message is about, and which of the pathway's events fits it.

A step is found by the accession number an order linked to it, else among the patient's open steps
of the kinds the procedure code maps to (handed-off screening of a closed case counts: it is still
tracked). Nothing here decides on its own: the handlers apply a message only when exactly one
step matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case, Step
from tracking.hl7.mapping import Procedure
from tracking.pathway.definition import EventRule, Pathway, find_pathway
from tracking.pathway.vocabulary import CaseStatus, StepStatus

OPEN_STEP = (StepStatus.pending.value, StepStatus.scheduled.value)
ACTIVE_CASE = (CaseStatus.open.value, CaseStatus.lost_to_follow_up.value)
ACCESSION_MAX = 64  # steps.accession_number


@dataclass(frozen=True)
class Match:
    case: Case
    step: Step

    @property
    def pathway(self) -> Pathway:
        return find_pathway(self.case.pathway_name, self.case.pathway_version)

    def describe(self) -> dict[str, Any]:
        return {
            "case_id": self.case.id,
            "step_id": self.step.id,
            "step": self.step.kind,
            "status": self.step.status,
            "laterality": self.step.laterality,
        }


def open_matches(session: Session, patient_id: int, kinds: tuple[str, ...], side: str | None) -> list[Match]:
    """The patient's open steps of these kinds (and handed-off ones on closed cases), on the side examined."""
    query = (
        select(Case, Step)
        .join(Step, col(Step.case_id) == Case.id)
        .where(Case.patient_id == patient_id, col(Step.kind).in_(kinds))
        .where(
            or_(
                and_(col(Case.status).in_(ACTIVE_CASE), col(Step.status).in_(OPEN_STEP)),
                and_(Case.status == CaseStatus.closed, Step.status == StepStatus.handed_off),
            )
        )
        .order_by(Case.id, Step.due_at, Step.id)
    )
    return [Match(case, step) for case, step in session.exec(query) if same_side(step.laterality, side)]


def same_side(step_side: str | None, examined: str | None) -> bool:
    """A left exam never matches a right-breast step (nor the other way round); bilateral covers both."""
    one_breast = ("left", "right")
    return not (step_side in one_breast and examined in one_breast and step_side != examined)


# Built once: every result and booking looks its accession number up.
BY_ACCESSION = (
    select(Case, Step)
    .join(Step, col(Step.case_id) == Case.id)
    .where(Step.accession_number == bindparam("accession"))
    .order_by(Step.id)
)


def by_accession(session: Session, accession: str) -> list[Match]:
    """The steps an order already linked this accession number to, whatever their status."""
    if not accession:
        return []
    rows = session.exec(BY_ACCESSION, params={"accession": accession[:ACCESSION_MAX]})  # type: ignore[call-overload]
    return [Match(case, step) for case, step in rows]


def link_accession(
    session: Session, step_id: int, accession: str, *, actor: str, now: datetime, message_id: int | None = None
) -> Step:
    """Put an order's accession number on a step (searchable on the worklist); audited with ids."""
    accession = accession.strip()
    if not accession or len(accession) > ACCESSION_MAX:
        raise InvalidInput(f"an accession number is 1 to {ACCESSION_MAX} characters")
    step = session.exec(select(Step).where(Step.id == step_id).with_for_update()).first()
    if step is None:
        raise NotFound(f"step {step_id} does not exist")
    if step.accession_number and step.accession_number != accession:
        raise InvalidInput(f"step {step_id} already carries another accession number")
    if step.accession_number != accession:
        step.accession_number = accession
        session.add(step)
        session.flush()
        audit(
            session,
            actor=actor,
            action="hl7.accession_linked",
            at=now,
            case_id=step.case_id,
            step_id=step.id,
            message_id=message_id,
        )
    return step


# --- the pathway's events for a step ------------------------------------------------------------


def result_event(pathway: Pathway, step_kind: str) -> EventRule | None:
    """The one event that records the step's result (it `completes` the step), or None."""
    found = [rule for rule in pathway.events.values() if step_kind in rule.completes and not rule.completes_when_open]
    return found[0] if len(found) == 1 else None


def booking_event(pathway: Pathway, step_kind: str) -> EventRule | None:
    """The one event that books the step (it `schedules` it), or None."""
    found = [rule for rule in pathway.events.values() if step_kind in rule.schedules]
    return found[0] if len(found) == 1 else None


def no_show_event(pathway: Pathway, step_kind: str) -> EventRule | None:
    """The event that records a missed appointment for the step (it starts the contact attempts)."""
    if step_kind not in pathway.no_show.steps:
        return None
    found = [
        rule for rule in pathway.events.values() if any(action.name == "start_contact_attempts" for action in rule.then)
    ]
    return found[0] if len(found) == 1 else None


def step_fields(rule: EventRule, step_kind: str, procedure: Procedure | None) -> dict[str, Any]:
    """The event's fields that say which step it is about: `step` (a choice of step kinds), the field
    its `step_from` reads (the biopsy procedure or route), and what the procedure code implies."""
    data: dict[str, Any] = {}
    implied = procedure.fields if procedure else {}
    step_field = rule.fields.get("step")
    if step_field is not None and step_kind in step_field.choices:
        data["step"] = step_kind
    if rule.step_from is not None:
        name, steps = rule.step_from
        given = implied.get(name)
        if given is not None and steps.get(given) == step_kind:
            data[name] = given
        else:
            choices = [choice for choice, kind in steps.items() if kind == step_kind]
            if len(choices) == 1:
                data[name] = choices[0]
    for name, value in implied.items():
        if name in rule.fields and name not in data and (rule.step_from is None or name != rule.step_from[0]):
            data[name] = value
    return data
