"""Task: one per step of a case, whatever its kind (the FHIR workflow pattern: status, businessStatus,
owner, the due window in restriction.period)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tracking.cases.models import Case, Step
from tracking.cases.windows import due_text, step_window
from tracking.centre_time import shown_moment
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged, the_row
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant, reference
from tracking.fhir.outcome import numeric_id
from tracking.fhir.params import (
    SearchParam,
    SearchRequest,
    codes_condition,
    date_conditions,
    reference_condition,
    token_codes,
)
from tracking.fhir.step_rows import StepRow, count_steps, step_query, step_row
from tracking.pathway.vocabulary import StepStatus

TYPE = "Task"
SEARCH = {
    "status": SearchParam("status", "token", "Task status (requested, accepted, ready, completed, cancelled)"),
    "patient": SearchParam("patient", "reference", "The patient: Patient/<id>", target="Patient"),
    "owner": SearchParam("owner", "reference", "The case's navigator: Practitioner/<id>", target="Practitioner"),
    "_lastUpdated": SearchParam("_lastUpdated", "date", "When the step last changed; prefixes eq, gt, lt, ge, le"),
}


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = the_row(session, step_query().where(Step.id == numeric_id(TYPE, resource_id)), TYPE, resource_id)
    return found([step_row(row)], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    statuses = token_codes("status", request.groups("status"), codes.TASK_STATUS_SYSTEM, codes.TASK_STATUSES)
    conditions = [
        *codes_condition(Step.status, statuses, expand=codes.step_statuses_for_task),
        *reference_condition(Case.patient_id, request.groups("patient")),
        *reference_condition(Case.navigator_id, request.groups("owner")),
        *date_conditions(Step.updated_at, request.groups("_lastUpdated")),
    ]
    of_cases = bool(request.groups("patient") or request.groups("owner"))
    page = fetch_page(session, step_query().where(*conditions), order_by=[Step.id], request=request,
                      count=count_steps(conditions, of_cases=of_cases))  # fmt: skip
    return paged(found([step_row(row) for row in page.rows], context), page)


def found(rows: list[StepRow], context: FhirContext) -> Found:
    return Found(
        [task(row, context) for row in rows],
        case_ids=sorted({row.step.case_id for row in rows}),
        patient_ids=sorted({row.patient_id for row in rows}),
    )


def task(row: StepRow, context: FhirContext) -> dict[str, Any]:
    step = row.step
    status = codes.STEP_STATUS[StepStatus(step.status)]
    title = context.step_title(row.pathway_name, row.pathway_version, step.kind)
    window = step_window(step)
    reason = (step.result or {}).get("reason") if step.status in (StepStatus.cancelled, StepStatus.handed_off) else None
    notes = [f"Due: {due_text(step)}"]
    if step.status == StepStatus.scheduled and step.scheduled_at:
        notes.append(f"Booked for {shown_moment(step.scheduled_at)}")
    return clean({
        "resourceType": TYPE,
        "id": str(step.id),
        "meta": {"lastUpdated": instant(step.updated_at)},
        "status": status.task,
        "statusReason": {"text": str(reason)} if reason else None,
        "businessStatus": {"text": status.words},
        "intent": "order",
        "code": concept(coding(context.system(codes.STEP_KIND), step.kind, title), text=title),
        "description": f"{title}, {codes.SIDE_WORDS[step.laterality]}" if step.laterality else title,
        "focus": reference("ServiceRequest", step.id) if step.kind in codes.ORDERED else None,
        "for": reference("Patient", row.patient_id),
        "authoredOn": instant(row.authored_at),
        "lastModified": instant(step.updated_at),
        "owner": reference("Practitioner", row.navigator_id, row.navigator_name) if row.navigator_id else None,
        "restriction": {"period": {"start": instant(window.opens_at) if window else None,
                                   "end": instant(step.due_at)}},
        "executionPeriod": {"end": instant(step.completed_at)} if step.completed_at else None,
        "note": [{"text": text} for text in notes],
    })  # fmt: skip
