"""Patient: the MRN (system from WORKUP_FHIR_MRN_SYSTEM), names, birth date, and how to reach her
(tracking/patients/contact_details.py): phones, address, language and interpreter, primary care."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from tracking.cases.models import Patient
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant
from tracking.fhir.outcome import not_found, numeric_id
from tracking.fhir.params import SearchParam, SearchRequest, Token
from tracking.patients.contact_details import contact_details, language_name

TYPE = "Patient"
SEARCH = {
    "identifier": SearchParam(
        "identifier", "token", "The MRN: <system>|<MRN>, or the MRN alone (the system is WORKUP_FHIR_MRN_SYSTEM)"
    ),
}


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = session.get(Patient, numeric_id(TYPE, resource_id))
    if row is None:
        raise not_found(TYPE, resource_id)
    return found([row], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    conditions = [or_(*(_identifier(token, context) for token in tokens)) for tokens in request.groups("identifier")]
    page = fetch_page(session, select(Patient).where(*conditions), order_by=[Patient.id], request=request)
    return paged(found([row[0] for row in page.rows], context), page)


def _identifier(token: Token, context: FhirContext) -> Any:
    if token.system is not None and token.system != context.mrn_system:
        return false()  # another system (or none): no patient has it
    return Patient.mrn == token.code if token.code is not None else Patient.id.is_not(None)


def found(rows: list[Patient], context: FhirContext) -> Found:
    return Found([patient(row, context) for row in rows], patient_ids=[row.id for row in rows])


def patient(row: Patient, context: FhirContext) -> dict[str, Any]:
    details = contact_details(row)
    language = details.preferred_language
    address_lines = [line.strip() for line in (details.address or "").splitlines() if line.strip()]
    return clean({
        "resourceType": TYPE,
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.contact_updated_at or row.created_at)},
        "extension": [{"url": codes.INTERPRETER_REQUIRED, "valueBoolean": details.interpreter_needed}],
        "identifier": [{
            "use": "usual",
            "type": concept(coding(codes.IDENTIFIER_TYPE, "MR", "Medical record number"), text="MRN"),
            "system": context.mrn_system,
            "value": row.mrn,
        }],
        "name": [{"use": "official", "text": f"{row.given_name} {row.family_name}", "family": row.family_name,
                  "given": [row.given_name]}],
        "telecom": [
            {"system": "phone", "value": phone.number, "use": codes.PHONE_USE.get(phone.label), "rank": rank}
            for rank, phone in enumerate(details.phones, start=1)
        ],
        "birthDate": row.birth_date.isoformat(),
        "address": [{"text": details.address, "line": address_lines}] if details.address else None,
        "communication": [{
            "language": concept(coding(codes.BCP47, language, language_name(language)), text=language_name(language)),
            "preferred": True,
        }],
        "generalPractitioner": [{"display": details.primary_care_provider}] if details.primary_care_provider else None,
    })  # fmt: skip
