"""Observation: each BI-RADS assessment (SNOMED CT; 4A/4B/4C as category 4, the subcategory in the text)
and each breast density (a-d) recorded on a case, from its events. Id: `<event id>-birads` or
`<event id>-density`; the events are append-only, so the ids never change."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, and_, cast, func, literal, or_, select, true, union_all
from sqlalchemy.orm import Session

from tracking.cases.models import Case, CaseEvent
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged, the_row
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant, reference
from tracking.fhir.outcome import not_found
from tracking.fhir.params import SearchParam, SearchRequest, reference_condition, token_codes
from tracking.fhir.service_request import body_site
from tracking.pathway.fields import INT4_MAX
from tracking.pathway.vocabulary import BIRADS_WORDS, DENSITY_WORDS, Density

TYPE = "Observation"
SEARCH = {
    "patient": SearchParam("patient", "reference", "The patient: Patient/<id>", target="Patient"),
    "code": SearchParam(
        "code",
        "token",
        f"What is observed: {codes.BIRADS_CODE} or {codes.DENSITY_CODE} (system <base>/CodeSystem/"
        f"{codes.OBSERVATION_KIND})",
    ),
}
OBSERVATION_ID = re.compile(r"(\d{1,10})-(birads|density)")
KIND_CODES = {"birads": codes.BIRADS_CODE, "density": codes.DENSITY_CODE}


def birads_expression() -> Any:
    """An event's BI-RADS: the category it records, else the one its decision set (a malignant pathology: 6)."""
    return func.coalesce(CaseEvent.payload["birads"].astext, CaseEvent.outcome["birads"].astext)


def _values(kind: str) -> tuple[Any, list[str]]:
    """An event's value of `kind` and the values that make an observation of it."""
    if kind == "birads":
        return birads_expression(), list(codes.BIRADS_SNOMED)
    return CaseEvent.payload["density"].astext, [density.value for density in Density]


def observations(kinds: list[str], conditions: list[Any]) -> tuple[Any, list[Any]]:
    """The query of the observations of `kinds` (each event read once, in id order, giving 0-2 rows through a
    lateral list of its values, so a page stops early), and its order."""
    values = union_all(*(
        select(cast(literal(kind, String), String).label("kind"), _values(kind)[0].label("value")).correlate(CaseEvent)
        for kind in kinds
    )).lateral("observed")  # fmt: skip
    recorded = or_(*(and_(values.c.kind == kind, values.c.value.in_(_values(kind)[1])) for kind in kinds))
    query = (
        select(CaseEvent.id, values.c.kind, values.c.value, CaseEvent.occurred_at, CaseEvent.recorded_at,
               CaseEvent.case_id, Case.patient_id, Case.laterality)
        .join(Case, Case.id == CaseEvent.case_id)
        .join(values, true())
        .where(recorded, *conditions)
    )  # fmt: skip
    return query, [CaseEvent.id, values.c.kind]


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    matched = OBSERVATION_ID.fullmatch(resource_id)
    if matched is None or not 1 <= int(matched[1]) <= INT4_MAX:
        raise not_found(TYPE, resource_id)
    query, _ = observations([matched[2]], [CaseEvent.id == int(matched[1])])
    row = the_row(session, query, TYPE, resource_id)
    return found([row], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    wanted = token_codes("code", request.groups("code"), context.system(codes.OBSERVATION_KIND))
    kinds = [kind for kind, code in KIND_CODES.items() if all(None in group or code in group for group in wanted)]
    if not kinds:
        return Found([], 0 if request.total else None)
    query, order = observations(kinds, reference_condition(Case.patient_id, request.groups("patient")))
    page = fetch_page(session, query, order_by=order, request=request)
    return paged(found(page.rows, context), page)


def found(rows: list[Any], context: FhirContext) -> Found:
    return Found(
        [observation(row, context) for row in rows],
        case_ids=sorted({row[5] for row in rows}),
        patient_ids=sorted({row[6] for row in rows}),
    )


def birads_value(birads: str) -> dict[str, Any]:
    """A BI-RADS category as a concept: SNOMED CT, with the subcategory (4A, 4B, 4C) in the text."""
    snomed = codes.BIRADS_SNOMED[birads]
    words = BIRADS_WORDS.get(birads)
    return concept(coding(codes.SNOMED, snomed, codes.SNOMED_BIRADS_DISPLAY[snomed]),
                   text=f"BI-RADS {birads}: {words}" if words else f"BI-RADS {birads}")  # fmt: skip


def observation_id(event_id: int, kind: str) -> str:
    return f"{event_id}-{kind}"


def observation(row: Any, context: FhirContext) -> dict[str, Any]:
    event_id, kind, value, occurred_at, recorded_at, _case_id, patient_id, laterality = row
    if kind == "birads":
        shown = birads_value(value)
    else:
        words = DENSITY_WORDS[value]
        shown = concept(coding(context.system(codes.BREAST_DENSITY), value, words), text=f"Density {value}: {words}")
    title = codes.OBSERVATION_TITLES[KIND_CODES[kind]]
    return clean({
        "resourceType": TYPE,
        "id": observation_id(event_id, kind),
        "meta": {"lastUpdated": instant(recorded_at)},
        "status": "final",
        "category": [concept(coding(codes.OBSERVATION_CATEGORY, "imaging", "Imaging"))],
        "code": concept(coding(context.system(codes.OBSERVATION_KIND), KIND_CODES[kind], title), text=title),
        "subject": reference("Patient", patient_id),
        "effectiveDateTime": instant(occurred_at),
        "issued": instant(recorded_at),
        "valueCodeableConcept": shown,
        "bodySite": body_site(laterality),
    })  # fmt: skip
