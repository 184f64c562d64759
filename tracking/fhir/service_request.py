"""ServiceRequest: a step that orders an exam or a procedure (codes.ORDERED), with its accession number."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col

from tracking.cases.models import Case, Step
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged, the_row
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant, reference
from tracking.fhir.outcome import numeric_id
from tracking.fhir.params import SearchParam, SearchRequest, reference_condition
from tracking.fhir.step_rows import StepRow, count_steps, step_query, step_row
from tracking.pathway.vocabulary import StepStatus

TYPE = "ServiceRequest"
SEARCH = {"patient": SearchParam("patient", "reference", "The patient: Patient/<id>", target="Patient")}


ORDERED = col(Step.kind).in_(list(codes.ORDERED))


def ordered_steps() -> Any:
    return step_query().where(ORDERED)


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = the_row(session, ordered_steps().where(Step.id == numeric_id(TYPE, resource_id)), TYPE, resource_id)
    return found([step_row(row)], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    conditions = reference_condition(Case.patient_id, request.groups("patient"))
    page = fetch_page(session, ordered_steps().where(*conditions), order_by=[Step.id], request=request,
                      count=count_steps([ORDERED, *conditions], of_cases=bool(conditions)))  # fmt: skip
    return paged(found([step_row(row) for row in page.rows], context), page)


def found(rows: list[StepRow], context: FhirContext) -> Found:
    return Found(
        [service_request(row, context) for row in rows],
        case_ids=sorted({row.step.case_id for row in rows}),
        patient_ids=sorted({row.patient_id for row in rows}),
    )


def exam_code(kind: str, laterality: str | None, title: str) -> dict[str, Any]:
    """What is ordered: the CPT code where the table knows it (codes.ORDERED), and the pathway's title."""
    cpt = codes.ORDERED[kind].cpt.get(laterality or "")
    return concept(coding(codes.CPT, cpt, codes.CPT_DISPLAY.get(cpt)) if cpt else None, text=title)


def body_site(laterality: str | None) -> dict[str, Any] | None:
    if laterality not in codes.BODY_SITE:
        return None
    code, display = codes.BODY_SITE[laterality]
    return concept(coding(codes.SNOMED, code, display), text=codes.SIDE_WORDS[laterality])


def service_request(row: StepRow, context: FhirContext) -> dict[str, Any]:
    step = row.step
    title = context.step_title(row.pathway_name, row.pathway_version, step.kind)
    category_code, category_display = codes.SERVICE_CATEGORIES[codes.ORDERED[step.kind].category]
    accession = {"type": concept(coding(codes.IDENTIFIER_TYPE, "ACSN", "Accession ID")), "value": step.accession_number}
    return clean({
        "resourceType": TYPE,
        "id": str(step.id),
        "meta": {"lastUpdated": instant(step.updated_at)},
        "identifier": [accession] if step.accession_number else None,
        "status": codes.STEP_STATUS[StepStatus(step.status)].service_request,
        "intent": "order",
        "category": [concept(coding(codes.SNOMED, category_code, category_display), text=category_display)],
        "code": exam_code(step.kind, step.laterality, title),
        "subject": reference("Patient", row.patient_id),
        "occurrenceDateTime": instant(step.scheduled_at) if step.status == StepStatus.scheduled and step.scheduled_at
        else None,
        "authoredOn": instant(row.authored_at),
        "bodySite": [body_site(step.laterality)],
    })  # fmt: skip
