"""Communication: each letter produced (tracking/letters): sent ones completed, produced ones in
preparation. The payload only describes the letter; the PDF is never served here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracking.cases.models import Case, OutsideFacility, Patient
from tracking.fhir import codes
from tracking.fhir.bundle import Found, fetch_page, paged, the_row
from tracking.fhir.elements import FhirContext, clean, coding, concept, instant, reference
from tracking.fhir.outcome import numeric_id
from tracking.fhir.params import SearchParam, SearchRequest, reference_condition
from tracking.letters.kinds import LetterChannel, LetterKind, LetterStatus, RecipientKind
from tracking.letters.models import Letter
from tracking.patients.contact_details import language_name
from tracking.web.presenters import words

TYPE = "Communication"
SEARCH = {"patient": SearchParam("patient", "reference", "The patient: Patient/<id>", target="Patient")}


def letters() -> Any:
    return (
        select(Letter, Case.patient_id, Patient.referring_provider, OutsideFacility.name)
        .join(Case, Case.id == Letter.case_id)
        .join(Patient, Patient.id == Case.patient_id)
        .outerjoin(OutsideFacility, OutsideFacility.id == Letter.facility_id)
    )


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = the_row(session, letters().where(Letter.id == numeric_id(TYPE, resource_id)), TYPE, resource_id)
    return found([row], context)


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    conditions = reference_condition(Case.patient_id, request.groups("patient"))
    page = fetch_page(session, letters().where(*conditions), order_by=[Letter.id], request=request)
    return paged(found(page.rows, context), page)


def found(rows: list[Any], context: FhirContext) -> Found:
    return Found(
        [communication(row, context) for row in rows],
        case_ids=sorted({row[0].case_id for row in rows}),
        patient_ids=sorted({row[1] for row in rows}),
    )


def _recipient(letter: Letter, patient_id: int, referrer: str | None, facility: str | None) -> dict[str, Any]:
    if letter.recipient_kind == RecipientKind.patient:
        return reference("Patient", patient_id)
    if letter.recipient_kind == RecipientKind.facility:
        return {"display": facility or "Outside facility"}
    return {"display": referrer or "Referring provider"}


def communication(row: Any, context: FhirContext) -> dict[str, Any]:
    letter, patient_id, referrer, facility = row
    kind_words = codes.LETTER_WORDS[LetterKind(letter.kind)]
    mode, mode_words = codes.LETTER_MEDIUM[LetterChannel(letter.channel)]
    sent = letter.status == LetterStatus.sent
    described = (
        f"{kind_words} in {language_name(letter.language)}, {'sent' if sent else 'produced, not sent yet'}; "
        f"kept as a PDF (SHA-256 {letter.pdf_sha256}): `workup letter reprint {letter.id}` prints it again"
    )
    return clean({
        "resourceType": TYPE,
        "id": str(letter.id),
        "meta": {"lastUpdated": instant(letter.sent_at or letter.produced_at)},
        "language": letter.language,
        "status": codes.LETTER_STATUS[LetterStatus(letter.status)],
        "category": [concept(coding(context.system(codes.LETTER_KIND), letter.kind, kind_words), text=kind_words)],
        "medium": [concept(coding(codes.PARTICIPATION_MODE, mode, mode_words), text=words(letter.channel))],
        "subject": reference("Patient", patient_id),
        "about": [reference("Task", letter.step_id)] if letter.step_id else None,
        "sent": instant(letter.sent_at) if sent and letter.sent_at else None,
        "recipient": [_recipient(letter, patient_id, referrer, facility)],
        "sender": {"display": context.centre_name},
        "payload": [{"contentString": described}],
    })  # fmt: skip
