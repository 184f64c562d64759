"""An opening may carry how to reach the patient (CaseOpening.contact): a new patient gets it, a known one
has hers replaced (audited, field names only); left out, it changes nothing and hashes as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import select

from tests.factories import seed_opening
from tracking.cases.errors import IdempotencyKeyReused
from tracking.cases.models import Patient
from tracking.cases.opening import CaseOpening, open_case, opening_hash
from tracking.cases.state import request_hash
from tracking.patients.contact_details import ContactDetails

CONTACT = {"phones": [{"label": "home", "number": "+1 (617) 555-0134"}], "preferred_language": "VI",
           "interpreter_needed": True, "may_leave_message": False, "referring_provider": "Dr Okafor"}  # fmt: skip


def patient(session) -> Patient:
    return session.exec(select(Patient).where(Patient.mrn == "TEST-SEED-1")).one()


def test_a_new_patient_gets_the_contact_details(session, now):
    open_case(session, seed_opening(contact=ContactDetails(**CONTACT)), actor="nav", now=now)
    saved = patient(session)
    assert saved.phones == [{"label": "home", "number": "+16175550134"}]
    assert (saved.preferred_language, saved.interpreter_needed, saved.may_leave_message) == ("vi", True, False)
    assert saved.referring_provider == "Dr Okafor" and saved.contact_updated_at == now


def test_a_known_patient_s_details_are_replaced_and_audited_only_when_given(session, now):
    open_case(session, seed_opening(contact=ContactDetails(**CONTACT)), actor="nav", now=now)
    open_case(session, seed_opening(facilities=[]), actor="nav", now=now + timedelta(hours=1))
    assert patient(session).phones == [{"label": "home", "number": "+16175550134"}]  # no contact: kept
    later = now + timedelta(hours=2)
    second = open_case(session, seed_opening(facilities=[], contact=ContactDetails(address="1 Main St, Boston")),
                       actor="nav", now=later)  # fmt: skip
    saved = patient(session)
    assert saved.phones == [] and saved.address == "1 Main St, Boston" and saved.contact_updated_at == later
    case_id, detail = session.execute(
        text("SELECT case_id, detail FROM audit_log WHERE action = 'patient.contact_changed'")
    ).one()
    assert case_id == second.case_id and detail["patient_id"] == saved.id
    assert set(detail["fields"]) >= {"phones", "address"} and "Main" not in str(detail)


def test_the_contact_counts_in_the_request_hash_only_when_given(session, now):
    plain = seed_opening()
    dumped = plain.model_dump(mode="json")
    del dumped["occurred_at"], dumped["palpable"], dumped["contact"]
    assert opening_hash(plain) == request_hash({"request": "open_case", "opening": dumped})  # as before it existed
    with_contact = seed_opening(contact=ContactDetails(**CONTACT))
    assert opening_hash(with_contact) != opening_hash(plain)
    open_case(session, with_contact, actor="nav", now=now, idempotency_key="contact-key")
    assert open_case(session, seed_opening(contact=ContactDetails(**CONTACT)), actor="nav", now=now,
                     idempotency_key="contact-key").replayed  # fmt: skip
    with pytest.raises(IdempotencyKeyReused), session.begin_nested():
        open_case(session, plain, actor="nav", now=now, idempotency_key="contact-key")


def test_bad_contact_details_are_refused_by_name():
    raw = seed_opening().model_dump(mode="json")
    with pytest.raises(ValidationError) as raised:
        CaseOpening.model_validate(raw | {"contact": {"phones": [{"number": "12"}], "preferred_language": "1"}})
    locations = {tuple(error["loc"]) for error in raised.value.errors()}
    assert ("contact", "phones", 0, "number") in locations and ("contact", "preferred_language") in locations
