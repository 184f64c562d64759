"""A small clinic for the /fhir tests, worked through the real services on PostgreSQL, and the FHIR R4
validators (fhir.resources' R4B models, which R4 4.0.1 JSON of these resources satisfies)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import Engine
from sqlmodel import Session, select

from tests.factories import BENIGN_MAG, SUSPICIOUS_MAG
from tracking.cases.models import Case, Step
from tracking.cases.opening import CaseOpening, open_case
from tracking.cases.recording import record_event
from tracking.letters.models import Letter
from tracking.letters.service import mark_letter_sent
from tracking.users.models import User

# Evening in New York, the next morning in UTC: dates on the centre's clock and in UTC differ.
T0 = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # both cases open (the screening exams)
T1 = T0 + timedelta(days=1, hours=6)  # magnification views read
T2 = T0 + timedelta(days=2, hours=1)  # the biopsy booked; B's letter sent
T3 = T0 + timedelta(days=3)  # A's result letter sent

ADA = {"mrn": "FHIR-A-1", "given_name": "Adaline", "family_name": "Fhirtest", "birth_date": "1961-07-19"}
BEA = {"mrn": "FHIR-B-2", "given_name": "Beatrix", "family_name": "Fhirtest", "birth_date": "1970-01-05"}
ADA_CONTACT = {
    "phones": [{"label": "mobile", "number": "+1 617 555 0101"}, {"label": "other", "number": "+1 617 555 0102"}],
    "address": "12 Elm Street\nSpringfield, MA 01101",
    "preferred_language": "es",
    "interpreter_needed": True,
    "referring_provider": "Dr. Ana Ruiz",
    "primary_care_provider": "Dr. Lee Park",
}
ACCESSION = "ACC-20260305-17"


@dataclass(frozen=True)
class World:
    ada: int  # patient ids
    bea: int
    ada_case: int
    bea_case: int
    navigator_id: int
    magnification_step: int  # Ada's, completed by the 4B read
    stereotactic_step: int  # Ada's, booked
    ada_read_event: int  # the magnification_result event (a DiagnosticReport)
    sent_letter: int
    unsent_letter: int


def build_world(engine: Engine, navigator: str) -> World:
    """Ada: left calcifications, dense (c), read 4B, stereotactic biopsy booked, assigned to `navigator`,
    a result letter sent and a prior-film request produced. Bea: benign (2), letter sent, case closed,
    screening handed off."""
    with Session(engine, expire_on_commit=False) as session:
        opening = {**ADA, "laterality": "left", "density": "c", "occurred_at": T0.isoformat(), "contact": ADA_CONTACT,
                   "facilities": [{"name": "FHIR Northside Imaging", "channel": "fax", "contact": "+1 617 555 0100"}]}  # fmt: skip
        ada_case = open_case(session, CaseOpening.model_validate(opening), actor="nav", now=T0).case_id
        read = record_event(session, ada_case, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=T1)
        booked_for = (T2 + timedelta(days=4)).isoformat()
        record_event(session, ada_case, "biopsy_scheduled", {"procedure": "stereotactic", "scheduled_for": booked_for},
                     actor="nav", now=T2)  # fmt: skip
        bea_opening = {**BEA, "laterality": "right", "density": "b", "occurred_at": T0.isoformat()}
        bea_case = open_case(session, CaseOpening.model_validate(bea_opening), actor="nav", now=T0).case_id
        record_event(session, bea_case, "magnification_result", BENIGN_MAG, actor="rad", now=T1)
        record_event(session, bea_case, "result_letter_sent", {"density_sentence_included": True}, actor="nav", now=T2)

        case = session.get(Case, ada_case)
        nav = session.exec(select(User).where(User.username == navigator)).one()
        case.navigator_id = nav.id
        steps = {step.kind: step for step in session.exec(select(Step).where(Step.case_id == ada_case))}
        stereotactic = steps["stereotactic_biopsy"]
        stereotactic.accession_number = ACCESSION
        session.add_all([case, stereotactic])
        sent = _letter(session, ada_case, "result", "patient", "print_post", T1, step_id=steps["result_letter"].id)
        mark_letter_sent(session, sent, actor="nav", now=T3)
        facility_id = steps["prior_film_request"].facility_id
        unsent = _letter(session, ada_case, "prior_film_request", "facility", "fax", T1,
                         step_id=steps["prior_film_request"].id, facility_id=facility_id)  # fmt: skip
        _letter(session, ada_case, "referrer_report", "referrer", "fax", T1)
        session.commit()
        return World(
            ada=case.patient_id, bea=session.get(Case, bea_case).patient_id, ada_case=ada_case, bea_case=bea_case,
            navigator_id=nav.id, magnification_step=steps["magnification_views"].id,
            stereotactic_step=stereotactic.id, ada_read_event=read.event_id, sent_letter=sent, unsent_letter=unsent,
        )  # fmt: skip


def _letter(session: Session, case_id: int, kind: str, recipient: str, channel: str, at: datetime, **more) -> int:
    """A letter's record as produce_letter leaves it (its PDF not rendered here: FHIR shows the record only).
    A lay summary's inputs carry its density statement, which marking it sent records."""
    inputs: dict[str, Any] = {"kind": kind}
    if kind == "result":
        inputs["assessment"] = {"density": "c", "dense": True, "density_statement": "Your breast tissue is dense."}
    letter = Letter(case_id=case_id, kind=kind, language="es" if recipient == "patient" else "en",
                    recipient_kind=recipient, channel=channel, produced_by="nav", produced_at=at,
                    inputs=inputs, pdf_sha256="ab" * 32, **more)  # fmt: skip
    session.add(letter)
    session.flush()
    return letter.id


def validated(resource: dict[str, Any]) -> Any:
    """The resource parsed by its fhir.resources R4B model (raises when it is not valid FHIR)."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def path_of(url: str) -> str:
    """A link's path and query on the test client (links are absolute, under WORKUP_BASE_URL)."""
    return url[url.index("/fhir") :]


# Required-binding value sets of FHIR R4 (written out here, apart from tracking/fhir/codes.py), which the
# R4B models do not check.
STATUS_VALUE_SETS = {
    "Task": {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress",
             "on-hold", "failed", "completed", "entered-in-error"},
    "ServiceRequest": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "Observation": {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error",
                    "unknown"},
    "DiagnosticReport": {"registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
                         "cancelled", "entered-in-error", "unknown"},
    "Communication": {"preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                      "entered-in-error", "unknown"},
}  # fmt: skip


def empties(value: Any, where: str = "") -> list[str]:
    """Places holding null, "", [] or {}: FHIR JSON never carries them."""
    if value is None or value in ("", [], {}):
        return [where or "."]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in empties(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in empties(item, f"{where}[{index}]")]
    return []


def checked(resource: dict[str, Any]) -> Any:
    """Validated with R4B, no empty values, and a status from its value set (where the type has one)."""
    assert not empties(resource), empties(resource)
    kind = resource["resourceType"]
    if kind in STATUS_VALUE_SETS:
        assert resource["status"] in STATUS_VALUE_SETS[kind], resource["status"]
    return validated(resource)
