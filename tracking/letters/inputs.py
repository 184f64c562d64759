"""What each letter's template needs, gathered from the case: ids, the people and dates it names.

The inputs are stored with the letter (letters.inputs) so the same letter can be rendered again:
everything is JSON (dates as ISO days on the centre's calendar). They are PHI: never log them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case, CaseEvent, OutsideFacility, Patient, Step
from tracking.centre_time import local
from tracking.letters.deadlines import result_basis
from tracking.letters.density import density_statement, is_dense
from tracking.letters.kinds import LetterKind
from tracking.pathway.definition import Pathway, find_pathway
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, EventKind, StepKind
from tracking.settings import Settings


@dataclass(frozen=True)
class Gathered:
    inputs: dict[str, Any]
    step_id: int | None = None
    facility_id: int | None = None
    facility_channel: str | None = None


def day(moment: datetime | None) -> str | None:
    """An ISO day on the centre's calendar."""
    shown = local(moment)
    return f"{shown:%Y-%m-%d}" if shown else None


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in re.split(r"[\n;]", text or "") if line.strip()]


def common_inputs(
    case: Case, patient: Patient, kind: LetterKind, language: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "language": language,
        "case_id": case.id,
        "patient_id": patient.id,
        "letter_date": day(now),
        "centre": {
            "name": settings.centre_name,
            "address_lines": lines(settings.centre_address),
            "phone": settings.centre_phone,
        },
        "patient": {
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "birth_date": patient.birth_date.isoformat(),
            "mrn": patient.mrn,
            "address_lines": lines(patient.address),
            "referring_provider": patient.referring_provider,
        },
        "finding": {"type": case.finding_type, "laterality": case.laterality},
        "certified_mail": kind is LetterKind.final_missed_appointment,
    }


def gather(
    session: Session,
    case: Case,
    patient: Patient,
    kind: LetterKind,
    language: str,
    now: datetime,
    settings: Settings,
    *,
    facility_id: int | None = None,
) -> Gathered:
    """The inputs for one letter; InvalidInput when the case has nothing this kind of letter is about."""
    inputs = common_inputs(case, patient, kind, language, now, settings)
    pathway = _pathway(case)
    if kind in (LetterKind.result, LetterKind.referrer_report):
        return _result(session, case, kind, inputs, pathway, settings)
    if kind is LetterKind.prior_film_request:
        return _film_request(session, case, inputs, facility_id)
    if kind is LetterKind.followup_reminder:
        return _followup(session, case, inputs, pathway)
    return _missed(session, case, kind, inputs, pathway, now)


def _pathway(case: Case) -> Pathway | None:
    try:
        return find_pathway(case.pathway_name, case.pathway_version)
    except LookupError:
        return None


def _title(pathway: Pathway | None, kind: str) -> str:
    rule = pathway.steps.get(kind) if pathway else None
    return rule.title if rule else kind.replace("_", " ")


def _result(
    session: Session, case: Case, kind: LetterKind, inputs: dict[str, Any], pathway: Pathway | None, settings: Settings
) -> Gathered:
    if kind is LetterKind.referrer_report and not inputs["patient"]["referring_provider"]:
        raise InvalidInput(
            f"case {case.id}: the patient has no referring provider recorded; add one to her contact details first"
        )
    basis = result_basis(session, case)
    language = inputs["language"]
    inputs["assessment"] = {
        "exam_date": day(basis.exam_at),
        "birads": basis.birads,
        "density": case.density,
        "dense": is_dense(case.density),
        "density_statement": density_statement(settings.letters_dir, language, case.density),
        "lay_summary_due": day(basis.due_at),
        "event_id": basis.event_id,
    }
    if kind is LetterKind.referrer_report:
        steps = session.exec(
            select(Step)
            .where(
                Step.case_id == case.id, col(Step.status).in_(OPEN_STEP_STATUSES), Step.kind != StepKind.result_letter
            )
            .order_by(col(Step.due_at), col(Step.id))
        ).all()
        inputs["next_steps"] = [
            {"kind": step.kind, "title": _title(pathway, step.kind), "due": day(step.due_at)} for step in steps
        ]
    return Gathered(inputs, step_id=basis.step_id)


def _film_request(session: Session, case: Case, inputs: dict[str, Any], facility_id: int | None) -> Gathered:
    rows = session.exec(
        select(Step, OutsideFacility)
        .join(OutsideFacility, col(OutsideFacility.id) == Step.facility_id)
        .where(Step.case_id == case.id, Step.kind == StepKind.prior_film_request)
        .order_by(col(Step.id))
    ).all()
    open_rows = [(step, facility) for step, facility in rows if step.status in OPEN_STEP_STATUSES]
    if facility_id is not None:
        chosen = [(step, facility) for step, facility in rows if facility.id == facility_id]
        if not chosen:
            raise InvalidInput(f"case {case.id} has no prior-film request to facility {facility_id}")
    elif not open_rows:
        raise InvalidInput(f"case {case.id} has no open prior-film request")
    elif len(open_rows) > 1:
        ids = ", ".join(str(facility.id) for _, facility in open_rows)
        raise InvalidInput(f"case {case.id} requests films from several facilities ({ids}); name one with --facility")
    else:
        chosen = open_rows
    step, facility = chosen[-1]
    inputs["facility"] = {"id": facility.id, "name": facility.name, "channel": facility.channel,
                          "contact": facility.contact, "phone": facility.phone}  # fmt: skip
    inputs["request"] = {"requested_on": day(step.created_at), "send_by": day(step.due_at)}
    return Gathered(inputs, step_id=step.id, facility_id=facility.id, facility_channel=facility.channel)


def _followup(session: Session, case: Case, inputs: dict[str, Any], pathway: Pathway | None) -> Gathered:
    kinds = list(pathway.surveillance) if pathway else []
    step = session.exec(
        select(Step)
        .where(Step.case_id == case.id, col(Step.kind).in_(kinds), col(Step.status).in_(OPEN_STEP_STATUSES))
        .order_by(col(Step.due_at), col(Step.id))
    ).first()
    if step is None:
        raise InvalidInput(f"case {case.id} has no BI-RADS 3 follow-up exam open")
    target = day(step.target_at or step.due_at)
    inputs["followup"] = {"step_kind": step.kind, "title": _title(pathway, step.kind),
                          "target_date": target, "window_end": day(step.due_at)}  # fmt: skip
    return Gathered(inputs, step_id=step.id)


def _missed(
    session: Session, case: Case, kind: LetterKind, inputs: dict[str, Any], pathway: Pathway | None, now: datetime
) -> Gathered:
    missed = session.exec(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == EventKind.appointment_missed)
        .order_by(col(CaseEvent.occurred_at).desc(), col(CaseEvent.id).desc())
    ).first()
    if missed is None:
        raise InvalidInput(f"case {case.id} has no missed appointment recorded")
    no_show = pathway.no_show if pathway else None
    contact_kinds = [name for name in (no_show.contact_step, no_show.recontact_step) if name] if no_show else []
    contact = session.exec(
        select(Step)
        .where(Step.case_id == case.id, col(Step.kind).in_(contact_kinds), col(Step.status).in_(OPEN_STEP_STATUSES))
        .order_by(col(Step.due_at), col(Step.id))
    ).first()
    # Reply by the open contact step's due date; else by the pathway's wait after the last attempt.
    wait_days = no_show.wait_after_last_days if no_show else 14
    reply_by = contact.due_at if contact is not None else now + timedelta(days=wait_days)
    step_kind = str(missed.payload.get("step", ""))
    inputs["missed"] = {"event_id": missed.id, "step_kind": step_kind, "title": _title(pathway, step_kind),
                        "date": day(missed.occurred_at), "reply_by": day(reply_by)}  # fmt: skip
    return Gathered(inputs, step_id=contact.id if contact is not None else None)
