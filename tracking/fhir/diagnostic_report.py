"""DiagnosticReport: a recorded imaging result, i.e. an event that completed imaging steps (codes.ORDERED,
category imaging), linking the ServiceRequests it answers and its BI-RADS Observation. Id: the event's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, distinct, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tracking.cases.models import Case, CaseEvent, Step
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged, the_row
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant, reference
from tracking.fhir.observation import birads_expression, birads_value, observation_id
from tracking.fhir.outcome import numeric_id
from tracking.fhir.params import SearchParam, SearchRequest, reference_condition
from tracking.fhir.service_request import exam_code
from tracking.pathway.vocabulary import StepStatus

TYPE = "DiagnosticReport"
SEARCH = {"patient": SearchParam("patient", "reference", "The patient: Patient/<id>", target="Patient")}


IMAGING_DONE = and_(Step.status == StepStatus.completed, col(Step.kind).in_(codes.IMAGING_KINDS))
RESULT_EVENT = Step.result["event_id"].astext  # a completed step's result names the event that completed it


def reports() -> Any:
    """Events with the imaging steps they completed."""
    answered = and_(Step.case_id == CaseEvent.case_id, IMAGING_DONE, cast(CaseEvent.id, String) == RESULT_EVENT)
    return (
        select(CaseEvent.id, CaseEvent.occurred_at, CaseEvent.recorded_at, CaseEvent.case_id, birads_expression(),
               Case.patient_id, Case.pathway_name, Case.pathway_version,
               func.array_agg(Step.id).label("step_ids"), func.min(Step.kind), func.min(Step.laterality))
        .join(Step, answered)
        .join(Case, Case.id == CaseEvent.case_id)
        .group_by(CaseEvent.id, Case.patient_id, Case.pathway_name, Case.pathway_version)
    )  # fmt: skip


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = the_row(session, reports().where(CaseEvent.id == numeric_id(TYPE, resource_id)), TYPE, resource_id)
    return found([row], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    conditions = reference_condition(Case.patient_id, request.groups("patient"))
    counted = (
        select(func.count(distinct(RESULT_EVENT)))
        .select_from(Step)
        .join(Case, Case.id == Step.case_id)
        .where(IMAGING_DONE, *conditions)
    )
    page = fetch_page(session, reports().where(*conditions), order_by=[CaseEvent.id], request=request, count=counted)
    return paged(found(page.rows, context), page)


def found(rows: list[Any], context: FhirContext) -> Found:
    return Found(
        [report(row, context) for row in rows],
        case_ids=sorted({row[3] for row in rows}),
        patient_ids=sorted({row[5] for row in rows}),
    )


def report(row: Any, context: FhirContext) -> dict[str, Any]:
    event_id, occurred_at, recorded_at, _case_id, birads, patient_id, pathway, version, step_ids, kind, side = row
    title = context.step_title(pathway, version, kind)
    assessed = birads in codes.BIRADS_SNOMED
    return clean({
        "resourceType": TYPE,
        "id": str(event_id),
        "meta": {"lastUpdated": instant(recorded_at)},
        "basedOn": [reference("ServiceRequest", step_id) for step_id in sorted(step_ids)],
        "status": "final",
        "category": [concept(coding(codes.DIAGNOSTIC_SERVICE, "RAD", "Radiology"))],
        "code": exam_code(kind, side, title),
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": instant(occurred_at),
        "issued": instant(recorded_at),
        "result": [reference("Observation", observation_id(event_id, "birads"))] if assessed else None,
        "conclusion": birads_value(birads)["text"] if assessed else None,
        "conclusionCode": [birads_value(birads)] if assessed else None,
    })  # fmt: skip
