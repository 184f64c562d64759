"""The HL7 inbox through its service: confirming records the prefilled (or edited) proposal as the
person confirming, under the pathway's roles and guards, or refuses and writes nothing; dismissing
needs a reason; a corrected result's alert resolves with its item."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import select

from tests.hl7_rules_support import NOW, item, run, seed_case
from tracking.alerts.models import Alert
from tracking.audit import AuditEntry
from tracking.cases.errors import GuardRefused, InvalidInput
from tracking.cases.models import Case, CaseEvent, Patient, Step
from tracking.hl7.inbox import Person, confirm_item, dismiss_item

NAVIGATOR = Person("kim", "navigator")
RADIOLOGIST = Person("ray", "radiologist")


def text_only_result(session) -> tuple[int, int]:
    case_id = seed_case(session)
    run(session, "orm_o01_magnification.hl7")
    return case_id, run(session, "oru_r01_magnification_text_only.hl7").inbox_item_id


def test_confirming_records_the_prefilled_event_as_the_person(session):
    case_id, item_id = text_only_result(session)
    decided = confirm_item(session, item_id, person=RADIOLOGIST, now=NOW)
    event = session.get(CaseEvent, decided.event_id)
    assert (event.kind, event.actor, event.case_id) == ("magnification_result", "ray", case_id)
    assert event.payload["birads"] == "4B"
    assert event.occurred_at.isoformat() == "2026-03-05T10:30:00+00:00"
    confirmed = item(session, item_id)
    assert (confirmed.status, confirmed.decided_by, confirmed.resulting_event_id) == ("confirmed", "ray", event.id)
    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "hl7.inbox_confirmed")).one()
    assert audit.detail == {"item_id": item_id, "message_id": confirmed.message_id, "event_id": event.id}
    with pytest.raises(InvalidInput, match="already confirmed"):
        confirm_item(session, item_id, person=RADIOLOGIST, now=NOW)


def test_an_edited_proposal_is_recorded_as_edited(session):
    case_id, item_id = text_only_result(session)
    edited = {**item(session, item_id).payload, "birads": "4C"}
    confirm_item(session, item_id, person=NAVIGATOR, now=NOW, payload=edited)
    assert session.get(Case, case_id).birads == "4C"


def test_a_guard_refusal_on_confirm_saves_nothing_and_the_item_stays_open(session):
    case_id, item_id = text_only_result(session)
    benign_call = {"birads": "2", "morphology": "fine_pleomorphic", "distribution": "grouped"}
    with pytest.raises(GuardRefused) as refused:
        confirm_item(session, item_id, person=RADIOLOGIST, now=NOW, payload=benign_call)
    assert refused.value.refusal.guard == "G5"
    assert item(session, item_id).status == "open"
    assert session.exec(select(CaseEvent).where(CaseEvent.kind == "magnification_result")).all() == []


@pytest.mark.parametrize("role", ["ops", "read_only", "admin"])
def test_only_the_roles_the_pathway_names_may_confirm(session, role):
    _, item_id = text_only_result(session)
    with pytest.raises(InvalidInput, match="only a navigator or radiologist"):
        confirm_item(session, item_id, person=Person("someone", role), now=NOW)


def test_a_radiologist_may_not_confirm_a_booking(session):
    seed_case(session)
    run(session, "omi_o23_ultrasound.hl7")
    item_id = run(session, "siu_s13_ultrasound.hl7").inbox_item_id  # a reschedule before its booking
    with pytest.raises(InvalidInput, match="may not record appointment booked"):
        confirm_item(session, item_id, person=RADIOLOGIST, now=NOW)
    decided = confirm_item(session, item_id, person=NAVIGATOR, now=NOW)
    assert session.get(CaseEvent, decided.event_id).kind == "appointment_booked"


def test_dismissing_needs_a_reason_and_keeps_it(session):
    _, item_id = text_only_result(session)
    with pytest.raises(InvalidInput, match="needs a reason"):
        dismiss_item(session, item_id, person=NAVIGATOR, reason="  ", now=NOW)
    dismiss_item(session, item_id, person=NAVIGATOR, reason="Recorded by hand from the paper report", now=NOW)
    dismissed = item(session, item_id)
    assert (dismissed.status, dismissed.dismiss_reason) == ("dismissed", "Recorded by hand from the paper report")
    with pytest.raises(InvalidInput, match="already dismissed"):
        dismiss_item(session, item_id, person=NAVIGATOR, reason="again", now=NOW)


def test_deciding_a_corrected_result_resolves_its_alert(session):
    seed_case(session)
    run(session, "orm_o01_magnification.hl7")
    run(session, "oru_r01_magnification_final.hl7")
    queued = item(session, run(session, "oru_r01_magnification_corrected.hl7").inbox_item_id)
    decided = confirm_item(
        session,
        queued.id,
        person=RADIOLOGIST,
        now=NOW,
        payload={**queued.payload, "override_reason": None} | {"birads": "4C"},
    )
    assert session.get(CaseEvent, decided.event_id).kind == "assessment"
    alert = session.get(Alert, queued.alert_id)
    assert alert.status == "resolved" and alert.resolved_at == NOW


def test_a_proposed_case_opens_once_finding_type_and_density_are_chosen(session):
    proposal = item(session, run(session, "orm_o01_new_patient.hl7").inbox_item_id)
    with pytest.raises(InvalidInput, match="finding type"):
        confirm_item(session, proposal.id, person=NAVIGATOR, now=NOW)
    with pytest.raises(ValidationError):
        confirm_item(
            session,
            proposal.id,
            person=NAVIGATOR,
            now=NOW,
            payload={**proposal.payload, "finding_type": "calcifications"},
        )
    with pytest.raises(InvalidInput, match="only a navigator"):
        confirm_item(
            session,
            proposal.id,
            person=RADIOLOGIST,
            now=NOW,
            payload={**proposal.payload, "finding_type": "calcifications", "density": "b"},
        )
    decided = confirm_item(
        session,
        proposal.id,
        person=NAVIGATOR,
        now=NOW,
        payload={**proposal.payload, "finding_type": "calcifications", "density": "b"},
    )
    case = session.get(Case, decided.case_id)
    patient = session.get(Patient, case.patient_id)
    assert (patient.mrn, patient.family_name, case.laterality) == ("HL7-200", "O^Brien", "right")
    assert patient.phones[0] == {"label": "mobile", "number": "+14135550199"}
    [magnification] = session.exec(
        select(Step).where(Step.case_id == case.id, Step.kind == "magnification_views")
    ).all()
    assert magnification.accession_number == "ACC-200"


def test_linking_an_order_to_the_step_a_person_chooses(session):
    first = seed_case(session, mrn="HL7-300", facilities=[])
    from tests.integration.test_hl7_results import open_case_for_same_patient

    second = open_case_for_same_patient(session, "HL7-300")
    queued = item(session, run(session, "orm_o01_magnification.hl7", **{"HL7-100": "HL7-300"}).inbox_item_id)
    assert queued.kind == "link_accession" and len(queued.details["candidates"]) == 2
    with pytest.raises(InvalidInput, match="step_id"):
        confirm_item(session, queued.id, person=NAVIGATOR, now=NOW)
    chosen = next(found for found in queued.details["candidates"] if found["case_id"] == second)
    confirm_item(session, queued.id, person=NAVIGATOR, now=NOW, payload={"step_id": chosen["step_id"]})
    assert session.get(Step, chosen["step_id"]).accession_number == "ACC-100"
    assert first != second


def test_contact_details_are_saved_once_corrected(session):
    seed_case(session)
    queued = item(session, run(session, "adt_a08_bad_phone.hl7").inbox_item_id)
    with pytest.raises(ValidationError):
        confirm_item(session, queued.id, person=NAVIGATOR, now=NOW)
    fixed = {**queued.payload, "phones": [{"label": "home", "number": "+14135550123"}]}
    confirm_item(session, queued.id, person=NAVIGATOR, now=NOW, payload=fixed)
    patient = session.exec(select(Patient).where(Patient.mrn == "HL7-100")).one()
    session.refresh(patient)
    assert patient.phones == [{"label": "home", "number": "+14135550123"}]


def test_a_new_name_is_applied_when_confirmed(session):
    seed_case(session)
    queued = item(session, run(session, "adt_a31_new_name.hl7").inbox_item_id)
    confirm_item(session, queued.id, person=NAVIGATOR, now=NOW)
    patient = session.get(Patient, queued.patient_id)
    session.refresh(patient)
    assert patient.family_name == "Testcase-Lund"


def test_a_merge_into_an_mrn_new_here_renames_the_patient(session):
    case_id = seed_case(session)
    queued = item(session, run(session, "adt_a40_merge.hl7").inbox_item_id)
    confirm_item(session, queued.id, person=NAVIGATOR, now=NOW)
    case = session.get(Case, case_id)
    assert session.get(Patient, case.patient_id).mrn == "HL7-300"


def test_a_merge_of_two_known_patients_moves_the_cases(session):
    prior_case = seed_case(session)
    survivor_case = seed_case(session, mrn="HL7-300")
    queued = item(session, run(session, "adt_a40_merge.hl7").inbox_item_id)
    confirm_item(session, queued.id, person=NAVIGATOR, now=NOW)
    survivor = session.exec(select(Patient).where(Patient.mrn == "HL7-300")).one()
    assert session.exec(select(Patient).where(Patient.mrn == "HL7-100")).first() is None
    for case_id in (prior_case, survivor_case):
        case = session.get(Case, case_id)
        session.refresh(case)
        assert case.patient_id == survivor.id


def test_a_review_item_is_marked_seen(session):
    seed_case(session)
    run(session, "omi_o23_ultrasound.hl7")
    run(session, "siu_s12_ultrasound.hl7")
    queued = item(session, run(session, "siu_s15_ultrasound.hl7").inbox_item_id)
    decided = confirm_item(session, queued.id, person=RADIOLOGIST, now=NOW)
    assert decided.event_id is None and item(session, queued.id).status == "confirmed"
