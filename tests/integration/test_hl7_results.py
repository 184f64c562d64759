"""ORU^R01 results: applied through the engine exactly when one open step matches, the result is
final and coded, and the pathway's guards accept it; queued in the HL7 inbox, prefilled, otherwise."""

from __future__ import annotations

from sqlmodel import select

from tests.hl7_rules_support import NOW, item, run, seed_case
from tracking.alerts.models import Alert
from tracking.cases.models import Case, CaseEvent, Step
from tracking.hl7.interpretation import MessageOutcome


def steps(session, case_id, kind):
    return list(session.exec(select(Step).where(Step.case_id == case_id, Step.kind == kind)))


def linked(session, case_id=None):
    case_id = case_id or seed_case(session)
    assert run(session, "orm_o01_magnification.hl7").outcome == MessageOutcome.applied
    return case_id


def test_a_final_coded_result_after_its_order_is_recorded_on_the_one_step(session):
    case_id = linked(session)
    result = run(session, "oru_r01_magnification_final.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    assert result.case_id == case_id
    [magnification] = steps(session, case_id, "magnification_views")
    assert magnification.status == "completed"
    event = session.exec(select(CaseEvent).where(CaseEvent.kind == "magnification_result")).one()
    assert event.payload == {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"}
    assert event.actor == "hl7:RIS^RIVERSIDE"
    assert event.occurred_at.isoformat() == "2026-03-05T10:30:00+00:00"  # OBR-7
    assert session.get(Case, case_id).birads == "4B"
    assert [step.status for step in steps(session, case_id, "stereotactic_biopsy")] == ["pending"]


def test_the_same_result_read_twice_is_not_recorded_twice(session):
    case_id = linked(session)
    assert run(session, "oru_r01_magnification_final.hl7").outcome == MessageOutcome.applied
    again = run(session, "oru_r01_magnification_final.hl7")
    assert again.outcome == MessageOutcome.queued  # the step is done: a person looks at the repeat
    assert "already completed" in item(session, again.inbox_item_id).reason
    assert (
        len(
            session.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "magnification_result")
            ).all()
        )
        == 1
    )


def test_a_bi_rads_only_in_the_report_words_is_a_suggestion_never_applied(session):
    case_id = linked(session)
    result = run(session, "oru_r01_magnification_text_only.hl7")
    assert result.outcome == MessageOutcome.queued
    queued = item(session, result.inbox_item_id)
    assert queued.kind == "record_event" and queued.event_kind == "magnification_result"
    assert queued.case_id == case_id
    assert queued.payload == {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"}
    assert "only in the report's words" in queued.reason
    assert [step.status for step in steps(session, case_id, "magnification_views")] == ["pending"]


def test_a_required_field_missing_queues_the_result_prefilled_with_what_is_known(session):
    case_id = linked(session)
    result = run(session, "oru_r01_magnification_no_morphology.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued
    assert queued.payload == {"birads": "2"}
    assert "morphology, distribution" in queued.reason
    assert queued.details["report_text"] == "Benign-appearing calcifications."
    assert steps(session, case_id, "magnification_views")[0].status == "pending"


def test_a_preliminary_result_is_never_applied(session):
    case_id = linked(session)
    result = run(session, "oru_r01_magnification_preliminary.hl7")
    assert result.outcome == MessageOutcome.queued
    queued = item(session, result.inbox_item_id)
    assert "preliminary" in queued.reason and queued.event_kind == "magnification_result"
    assert steps(session, case_id, "magnification_views")[0].status == "pending"


def test_a_corrected_result_after_the_final_one_queues_and_alerts(session):
    case_id = linked(session)
    run(session, "oru_r01_magnification_final.hl7")
    result = run(session, "oru_r01_magnification_corrected.hl7")
    assert result.outcome == MessageOutcome.queued
    queued = item(session, result.inbox_item_id)
    assert queued.event_kind == "assessment" and queued.payload["birads"] == "4C"
    alert = session.get(Alert, queued.alert_id)
    assert alert.kind == "corrected_result" and alert.case_id == case_id and alert.status == "open"
    assert session.get(Case, case_id).birads == "4B"  # nothing applied


def test_a_result_before_its_order_waits(session):
    case_id = seed_case(session)
    result = run(session, "oru_r01_before_order.hl7")
    queued = item(session, result.inbox_item_id)
    assert "before its order" in queued.reason
    assert queued.case_id == case_id and queued.event_kind == "magnification_result"
    assert steps(session, case_id, "magnification_views")[0].status == "pending"


def test_results_may_match_by_procedure_code_when_the_mapping_says_so(session, tmp_path, configure):
    from tracking.settings import REPO_ROOT

    mapping = (REPO_ROOT / "config" / "interfaces" / "hl7.yaml").read_text()
    path = tmp_path / "hl7.yaml"
    path.write_text(mapping.replace("results_need_order: true", "results_need_order: false"))
    configure(WORKUP_HL7_MAPPING=path)
    case_id = seed_case(session)
    result = run(session, "oru_r01_before_order.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    [magnification] = steps(session, case_id, "magnification_views")
    assert magnification.status == "completed" and magnification.accession_number == "ACC-999"


def test_an_unknown_patients_result_lands_in_the_inbox(session):
    result = run(session, "oru_r01_unknown_patient.hl7")
    assert result.outcome == MessageOutcome.queued
    queued = item(session, result.inbox_item_id)
    assert queued.case_id is None and queued.patient_id is None
    assert "No patient here has this MRN" in queued.reason
    assert queued.details["patient"]["mrn"] == "HL7-200"


def test_a_screening_result_for_a_patient_with_no_case_is_ignored(session):
    result = run(session, "oru_r01_screening_unknown_patient.hl7")
    assert result.outcome == MessageOutcome.ignored
    assert "not followed" in result.detail


def test_a_guard_refusal_is_queued_with_the_refusal(session):
    case_id = seed_case(session)
    assert run(session, "omi_o23_ultrasound.hl7").outcome == MessageOutcome.applied
    result = run(session, "oru_r01_ultrasound_with_birads.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued
    assert "Ultrasound cannot characterise calcifications" in queued.reason
    assert queued.event_kind == "ultrasound_result" and queued.payload["birads"] == "2"
    assert steps(session, case_id, "ultrasound")[0].status == "pending"


def test_an_ultrasound_read_with_findings_only_is_applied(session):
    case_id = seed_case(session)
    run(session, "omi_o23_ultrasound.hl7")
    result = run(session, "oru_r01_ultrasound_findings.hl7")
    assert result.outcome == MessageOutcome.applied, result.detail
    [ultrasound] = steps(session, case_id, "ultrasound")
    assert ultrasound.status == "completed"
    assert ultrasound.result["findings"] == "No sonographic abnormality in either breast."


def test_a_snomed_category_4_without_subcategory_is_refused_by_the_pathway_and_queued(session):
    linked(session)
    result = run(session, "oru_r01_magnification_snomed_4.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued
    assert queued.payload["birads"] == "4" and "birads" in queued.reason


def test_a_pathology_report_goes_to_the_concordance_review(session):
    from tests.factories import STEREOTACTIC_DONE, SUSPICIOUS_MAG
    from tracking.cases.recording import record_event

    case_id = seed_case(session)
    record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=NOW)
    record_event(session, case_id, "biopsy_performed", STEREOTACTIC_DONE, actor="rad", now=NOW)
    result = run(session, "oru_r01_pathology.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued
    assert queued.event_kind == "pathology_result" and queued.case_id == case_id
    assert "concordance" in queued.reason
    assert "ductal carcinoma in situ" in queued.details["report_text"]
    assert steps(session, case_id, "rad_path_concordance")[0].status == "pending"


def test_two_candidate_cases_are_never_guessed_between(session, configure, tmp_path):
    from tracking.settings import REPO_ROOT

    path = tmp_path / "hl7.yaml"
    path.write_text(
        (REPO_ROOT / "config/interfaces/hl7.yaml")
        .read_text()
        .replace("results_need_order: true", "results_need_order: false")
    )
    configure(WORKUP_HL7_MAPPING=path)
    first = seed_case(session, mrn="HL7-300", facilities=[])
    second = open_case_for_same_patient(session, "HL7-300")
    result = run(session, "oru_r01_two_cases.hl7")
    queued = item(session, result.inbox_item_id)
    assert result.outcome == MessageOutcome.queued
    assert "2 open cases" in queued.reason
    assert {candidate["case_id"] for candidate in queued.details["candidates"]} == {first, second}


def open_case_for_same_patient(session, mrn):
    from tests.factories import seed_opening
    from tests.hl7_rules_support import OPENED
    from tracking.cases.opening import open_case

    return open_case(session, seed_opening(mrn=mrn, facilities=[], laterality="left"), actor="test", now=OPENED).case_id
