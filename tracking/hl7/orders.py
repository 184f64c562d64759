"""ORM^O01 / OMI^O23: an order links its accession number (OBR-3, else ORC-3) to a step.

Each order (OBR) in the message is read on its own. It is linked by itself only to the one open
step of the exam's kinds among the patient's cases. A diagnostic order for a patient with no open
case proposes a new case (inbox, prefilled from PID and the exam); two candidate steps, a step
that already has another accession number, or an order that matches no step of an open case wait
for a person. A cancelled order of a linked step is shown to a person. Codes the mapping does not
know, and orders the tracker does not follow, are ignored with the reason.
"""

from __future__ import annotations

from typing import Any

import hl7
from pydantic import ValidationError

from tracking.hl7.context import Context, Identified
from tracking.hl7.demographics import pid_contact, pid_identity
from tracking.hl7.inbox import Proposal
from tracking.hl7.interpretation import Interpretation, MessageOutcome
from tracking.hl7.matching import ACCESSION_MAX, by_accession, link_accession, open_matches
from tracking.hl7.observations import Exam, read_exam
from tracking.pathway.vocabulary import HL7InboxKind
from tracking.patients.contact_details import ContactDetails

CANCELLING = {"CA", "OC", "DC", "DR", "OD"}  # ORC-1: cancel / discontinue requests and confirmations
RANK = {MessageOutcome.queued: 3, MessageOutcome.applied: 2, MessageOutcome.ignored: 1}


def handle_order(context: Context) -> Interpretation:
    requests = context.reader.segments("OBR")
    if not requests:
        return context.review("The order names no exam (no OBR segment).", patient=context.identify())
    patient = context.identify()
    orcs = context.reader.segments("ORC")
    outcomes = []
    for index, obr in enumerate(requests):
        orc = orcs[index] if index < len(orcs) else (orcs[0] if orcs else None)
        outcomes.append(_one_order(context, patient, orc, obr))
    return _together(outcomes)


def _together(outcomes: list[Interpretation]) -> Interpretation:
    """One outcome for the message: queued if any order was, else applied if any was, else ignored."""
    if len(outcomes) == 1:
        return outcomes[0]
    worst = max(outcomes, key=lambda outcome: RANK.get(outcome.outcome, 0))
    detail = "; ".join(f"order {index + 1}: {outcome.detail}" for index, outcome in enumerate(outcomes))
    queued = next((outcome.inbox_item_id for outcome in outcomes if outcome.inbox_item_id), None)
    cases = {outcome.case_id for outcome in outcomes if outcome.case_id}
    return Interpretation(
        worst.outcome, detail[:1000], case_id=cases.pop() if len(cases) == 1 else None, inbox_item_id=queued
    )


def _one_order(context: Context, patient: Identified, orc: hl7.Segment | None, obr: hl7.Segment) -> Interpretation:
    exam = read_exam(context, obr, accession_fields=(("", 3),))
    if not exam.accession and orc is not None:
        exam.accession = context.reader.value(orc, 3, 1)[:200]
    procedure = exam.procedure
    if procedure is None:
        return context.ignored(f"procedure code {exam.code[:40] or '(none)'} is not in the HL7 mapping: not followed")
    control = context.reader.value(orc, 1, 1).upper()
    linked = by_accession(context.session, exam.accession)
    details = exam.describe() | {"order_control": control or None}
    if linked and (patient.patient is None or any(match.case.patient_id != patient.patient.id for match in linked)):
        return context.review(
            "The accession number is already linked to a case of another patient than the one this order names.",
            case_id=linked[0].case.id,
            patient=patient,
            details=details | {"candidates": [m.describe() for m in linked]},
        )
    if control in CANCELLING:
        if not linked:
            return context.ignored(f"order cancelled (ORC-1 {control}) for an exam linked to no step here")
        return context.review(
            f"The RIS cancelled this order (ORC-1 {control}); the step stays open. Rebook it, or record why it "
            "is no longer needed.",
            case_id=linked[0].case.id,
            patient=patient,
            details=details | {"step_id": linked[0].step.id},
        )
    if linked:
        return context.applied(f"accession already linked to step {linked[0].step.id}", case_id=linked[0].case.id)
    matches = open_matches(context.session, patient.patient.id, procedure.steps, exam.side) if patient.patient else []
    cases = context.active_cases(patient.patient)
    if len(matches) == 1:
        match = matches[0]
        if not exam.accession or len(exam.accession) > ACCESSION_MAX:
            why = "no accession number (OBR-3, ORC-3)" if not exam.accession else "an accession number too long"
            return context.review(
                f"The order has {why}; it cannot be linked.", case_id=match.case.id, patient=patient, details=details
            )
        if match.step.accession_number:
            return _link_proposal(
                context,
                patient,
                exam,
                matches,
                details,
                f"Step {match.step.id} already carries another accession number.",
            )
        link_accession(
            context.session,
            match.step.id,
            exam.accession,
            actor=context.actor,
            now=context.now,
            message_id=context.message_id,
        )
        return context.applied(f"accession linked to step {match.step.id} ({match.step.kind})", case_id=match.case.id)
    if len(matches) > 1:
        listed = ", ".join(sorted({str(match.case.id) for match in matches}))
        return _link_proposal(
            context,
            patient,
            exam,
            matches,
            details,
            f"Several open steps match this order (case {listed}); choose one.",
        )
    if not procedure.diagnostic:
        return context.ignored(f"{procedure.title} for a patient with no open step of that kind here: not followed")
    if cases:
        listed = ", ".join(str(case.id) for case in cases)
        return context.review(
            f"No open step of the patient's case {listed} is this exam ({', '.join(procedure.steps)}). Link it by "
            "hand, open a new case for a new finding, or dismiss.",
            case_id=cases[0].id if len(cases) == 1 else None,
            patient=patient,
            details=details,
        )
    return _new_case_proposal(context, patient, exam, details)


def _link_proposal(
    context: Context, patient: Identified, exam: Exam, matches: list[Any], details: dict[str, Any], reason: str
) -> Interpretation:
    cases = {match.case.id for match in matches}
    return context.queue(
        Proposal(
            HL7InboxKind.link_accession,
            reason,
            case_id=cases.pop() if len(cases) == 1 else None,
            patient_id=patient.patient.id if patient.patient else None,
            payload={"step_id": matches[0].step.id if len(matches) == 1 else None},
            details=context.details(patient, details | {"candidates": [match.describe() for match in matches]}),
        )
    )


def _new_case_proposal(context: Context, patient: Identified, exam: Exam, details: dict[str, Any]) -> Interpretation:
    """A diagnostic order for a patient with no open case: the case it would open, prefilled."""
    pid = context.reader.first("PID")
    known = patient.patient
    payload: dict[str, Any] = {"mrn": patient.mrn} if patient.mrn else {}
    if known is not None:
        payload |= {
            "given_name": known.given_name,
            "family_name": known.family_name,
            "birth_date": known.birth_date.isoformat(),
        }
    else:
        payload |= pid_identity(context, pid) or {}
        stored = ContactDetails().model_dump(mode="json")
        contact, problems = pid_contact(context, pid, stored)
        if not problems and contact != stored:
            payload["contact"] = contact
        elif problems:
            context.notes.append(f"contact details from the message not prefilled: {'; '.join(problems)}")
    if exam.side in ("left", "right", "bilateral"):
        payload["laterality"] = exam.side
    try:
        ContactDetails.model_validate(payload.get("contact") or {})
    except ValidationError:
        payload.pop("contact", None)
    who = "a patient not known here" if known is None else "a patient with no open case here"
    return context.queue(
        Proposal(
            HL7InboxKind.open_case,
            f"A diagnostic order ({exam.procedure.title if exam.procedure else exam.code}) for {who}: open a case "
            "for it? Choose the finding type and density, check the rest, then confirm.",
            patient_id=known.id if known else None,
            payload=payload,
            details=context.details(patient, details),
        )
    )
