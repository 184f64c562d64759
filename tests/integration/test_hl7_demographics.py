"""ADT^A08 / A31 change a known patient's contact details (validated, audited by field name);
another name or birth date, an invalid phone and every ADT^A40 merge wait for a person."""

from __future__ import annotations

from sqlmodel import select

from tests.hl7_rules_support import item, run, seed_case
from tracking.audit import AuditEntry
from tracking.cases.models import Patient
from tracking.hl7.interpretation import MessageOutcome
from tracking.patients.contact_details import ContactDetails, Phone, update_contact_details


def patient(session, mrn="HL7-100") -> Patient:
    found = session.exec(select(Patient).where(Patient.mrn == mrn)).one()
    session.refresh(found)
    return found


def test_an_a08_changes_a_known_patients_phone_address_and_language(session, now):
    case_id = seed_case(session)
    home = ContactDetails(phones=[Phone(label="home", number="+14135550100")], interpreter_needed=True)
    update_contact_details(session, patient(session).id, home, actor="nav", now=now)
    result = run(session, "adt_a08_phone.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    assert result.case_id == case_id
    stored = patient(session)
    assert stored.phones == [{"label": "mobile", "number": "+14135550177"}, {"label": "home", "number": "+14135550100"}]
    assert stored.address == "77 Elm Street\nSpringfield, MA 01101"
    assert stored.preferred_language == "es"
    assert stored.interpreter_needed is True  # what the message does not carry is kept
    audit = session.exec(
        select(AuditEntry).where(AuditEntry.action == "patient.contact_changed").order_by(AuditEntry.id.desc())
    ).first()  # type: ignore[attr-defined]
    assert audit.actor == "hl7:RIS^RIVERSIDE"
    assert sorted(audit.detail["fields"]) == ["address", "phones", "preferred_language"]
    assert "413" not in str(audit.detail)  # field names only, never values


def test_a_phone_that_does_not_validate_is_queued_and_nothing_changes(session):
    seed_case(session)
    before = patient(session).phones
    result = run(session, "adt_a08_bad_phone.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued and queued.kind == "update_contact_details"
    assert "phones" in queued.reason
    assert patient(session).phones == before


def test_another_name_for_an_mrn_is_a_persons_decision(session):
    seed_case(session)
    result = run(session, "adt_a31_new_name.hl7")
    queued = item(session, result.inbox_item_id)
    assert queued.kind == "update_demographics" and queued.payload["family_name"] == "Testcase-Lund"
    assert patient(session).family_name == "Testcase"


def test_an_update_about_a_patient_not_followed_here_is_ignored(session):
    assert run(session, "adt_a08_unknown_patient.hl7").outcome == MessageOutcome.ignored


def test_a_merge_always_waits_for_a_person_prefilled(session):
    seed_case(session)
    result = run(session, "adt_a40_merge.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued and queued.kind == "merge_patients"
    assert queued.payload == {"mrn": "HL7-300", "prior_mrn": "HL7-100"}
    assert patient(session).mrn == "HL7-100"
