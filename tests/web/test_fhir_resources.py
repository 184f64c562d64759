"""/fhir on real PostgreSQL: every resource type read and searched and valid FHIR (fhir.resources R4B), the
CapabilityStatement true to what is served, and what each resource says of the clinic's records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.fhir_support import ACCESSION, ADA, BEA, T0, T1, T2, T3, World, build_world, checked, path_of
from tracking.cases.models import Step
from tracking.cases.windows import step_window
from tracking.fhir.codes import ORDERED
from tracking.fhir.elements import instant
from tracking.fhir.resources import RESOURCES

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def world(committed, users) -> World:
    return build_world(committed, users["navigator"])


@pytest.fixture
def fhir(api_for):
    return api_for("read_only")


def steps_of(engine, **where) -> list[Step]:
    with Session(engine) as session:
        query = select(Step).order_by(Step.id)
        for name, value in where.items():
            query = query.where(getattr(Step, name) == value)
        return list(session.exec(query))


def get(client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR_JSON
    return response.json()


def test_the_capability_statement_declares_what_is_served_and_every_declared_search_answers(fhir, world):
    statement = checked(get(fhir, "/fhir/metadata"))
    assert statement.fhirVersion == "4.0.1" and statement.format == ["json"] and statement.kind == "instance"
    (rest,) = statement.rest
    assert rest.mode == "server" and "Bearer" in rest.security.description
    declared = {resource.type: {param.name for param in resource.searchParam or []} for resource in rest.resource}
    assert declared == {
        "Patient": {"identifier"},
        "Practitioner": set(),
        "ServiceRequest": {"patient"},
        "Task": {"status", "patient", "owner", "_lastUpdated"},
        "Observation": {"patient", "code"},
        "DiagnosticReport": {"patient"},
        "Communication": {"patient"},
    }
    assert all({item.code for item in resource.interaction} == {"read", "search-type"} for resource in rest.resource)
    examples = {"identifier": ADA["mrn"], "patient": f"Patient/{world.ada}", "owner": f"Practitioner/{world.navigator_id}",
                "status": "completed", "_lastUpdated": "ge2026-01-01", "code": "birads-assessment"}  # fmt: skip
    for resource in rest.resource:
        for param in resource.searchParam or []:
            bundle = get(fhir, f"/fhir/{resource.type}", **{param.name: examples[param.name]})
            assert bundle["total"] >= 1, (resource.type, param.name)


def test_every_resource_type_is_searched_and_read_and_valid(fhir, world, committed):
    ordered = [step for step in steps_of(committed) if step.kind in ORDERED]
    expected = {"Patient": 2, "Practitioner": 1, "Task": len(steps_of(committed)), "ServiceRequest": len(ordered),
                "Observation": 6, "DiagnosticReport": 2, "Communication": 3}  # fmt: skip
    assert set(expected) == set(RESOURCES)
    for kind, count in expected.items():
        bundle = get(fhir, f"/fhir/{kind}", _count=100)
        checked(bundle)
        assert bundle["type"] == "searchset" and bundle["total"] == len(bundle["entry"]) == count, kind
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert resource["resourceType"] == kind and entry["search"] == {"mode": "match"}
            checked(resource)
            assert entry["fullUrl"].endswith(f"/fhir/{kind}/{resource['id']}")
            assert get(fhir, path_of(entry["fullUrl"])) == resource


def test_get_task_is_a_bundle_of_tasks(fhir, world, committed):
    bundle = checked(get(fhir, "/fhir/Task"))
    assert bundle.type == "searchset" and bundle.total == len(steps_of(committed)) <= 20
    assert {entry.resource.__resource_type__ for entry in bundle.entry} == {"Task"}
    assert [link.relation for link in bundle.link] == ["self", "first"]


def test_a_task_for_every_step_with_status_owner_and_due_window(fhir, world, committed):
    magnification = get(fhir, f"/fhir/Task/{world.magnification_step}")
    assert magnification["status"] == "completed" and magnification["businessStatus"] == {"text": "Done"}
    assert magnification["intent"] == "order"
    assert magnification["for"] == {"reference": f"Patient/{world.ada}"}
    assert magnification["focus"] == {"reference": f"ServiceRequest/{world.magnification_step}"}
    assert magnification["owner"] == {"reference": f"Practitioner/{world.navigator_id}", "display": "Test navigator"}
    (coding,) = magnification["code"]["coding"]
    assert coding["system"].endswith("/fhir/CodeSystem/step-kind") and coding["code"] == "magnification_views"
    assert coding["display"] == magnification["code"]["text"] and "agnification" in coding["display"]
    step = steps_of(committed, id=world.magnification_step)[0]
    assert magnification["restriction"] == {"period": {"end": instant(step.due_at)}}
    assert magnification["authoredOn"] == instant(T0) and magnification["lastModified"] == instant(T1)
    assert magnification["meta"]["lastUpdated"] == instant(T1)
    assert magnification["executionPeriod"] == {"end": instant(T1)}

    booked = get(fhir, f"/fhir/Task/{world.stereotactic_step}")
    assert (booked["status"], booked["businessStatus"]["text"]) == ("accepted", "Booked")
    assert any(note["text"].startswith("Booked for ") for note in booked["note"])
    assert booked["lastModified"] == instant(T2)

    (screening,) = steps_of(committed, case_id=world.ada_case, kind="annual_screening")
    window = step_window(screening)
    task = get(fhir, f"/fhir/Task/{screening.id}")
    assert task["restriction"]["period"] == {"start": instant(window.opens_at), "end": instant(window.closes_at)}
    assert {"text": f"Due: {window.phrase}"} in task["note"] and task["status"] == "requested"

    (handed_off,) = steps_of(committed, case_id=world.bea_case, status="handed_off")
    task = get(fhir, f"/fhir/Task/{handed_off.id}")
    assert (task["status"], task["businessStatus"]["text"]) == ("ready", "Handed off to the screening recall list")
    assert task["statusReason"] == {"text": handed_off.result["reason"]} and "owner" not in task
    (cancelled,) = steps_of(committed, case_id=world.bea_case, status="cancelled")
    assert get(fhir, f"/fhir/Task/{cancelled.id}")["status"] == "cancelled"
    (assessment,) = steps_of(committed, case_id=world.ada_case, kind="final_assessment")
    assert "focus" not in get(fhir, f"/fhir/Task/{assessment.id}")  # not an exam: no ServiceRequest


def test_service_requests_carry_cpt_accession_and_booking(fhir, world, committed):
    biopsy = get(fhir, f"/fhir/ServiceRequest/{world.stereotactic_step}")
    assert biopsy["status"] == "active" and biopsy["intent"] == "order"
    assert biopsy["identifier"] == [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                          "code": "ACSN", "display": "Accession ID"}]},
                                     "value": ACCESSION}]  # fmt: skip
    assert biopsy["code"]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"
    assert biopsy["code"]["coding"][0]["code"] == "19081"
    assert biopsy["category"][0]["coding"][0] == {"system": "http://snomed.info/sct", "code": "86273004",
                                                  "display": "Biopsy"}  # fmt: skip
    assert biopsy["occurrenceDateTime"] == instant(T2 + timedelta(days=4))
    assert biopsy["bodySite"][0]["coding"][0]["code"] == "80248007"  # left breast
    views = get(fhir, f"/fhir/ServiceRequest/{world.magnification_step}")
    assert views["status"] == "completed" and views["code"]["coding"][0]["code"] == "77065"
    assert "identifier" not in views and "occurrenceDateTime" not in views
    (assessment,) = steps_of(committed, case_id=world.ada_case, kind="final_assessment")
    assert fhir.get(f"/fhir/ServiceRequest/{assessment.id}").status_code == 404  # a reading, not an order


def test_a_patient_with_her_mrn_system_contact_details_and_language(api_for, world, configure):
    configure(WORKUP_FHIR_MRN_SYSTEM="urn:oid:2.16.840.1.113883.3.999.1")
    fhir = api_for("ops")
    patient = get(fhir, f"/fhir/Patient/{world.ada}")
    checked(patient)
    (identifier,) = patient["identifier"]
    assert (identifier["system"], identifier["value"]) == ("urn:oid:2.16.840.1.113883.3.999.1", ADA["mrn"])
    assert identifier["type"]["coding"][0]["code"] == "MR"
    assert patient["name"] == [{"use": "official", "text": "Adaline Fhirtest", "family": "Fhirtest",
                                "given": ["Adaline"]}]  # fmt: skip
    assert patient["birthDate"] == ADA["birth_date"]
    assert patient["telecom"] == [{"system": "phone", "value": "+16175550101", "use": "mobile", "rank": 1},
                                  {"system": "phone", "value": "+16175550102", "rank": 2}]  # fmt: skip
    assert patient["address"] == [{"text": "12 Elm Street\nSpringfield, MA 01101",
                                   "line": ["12 Elm Street", "Springfield, MA 01101"]}]  # fmt: skip
    assert patient["communication"] == [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es",
                                                                  "display": "Spanish"}], "text": "Spanish"},
                                         "preferred": True}]  # fmt: skip
    assert patient["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired",
                                     "valueBoolean": True}]  # fmt: skip
    assert patient["generalPractitioner"] == [{"display": "Dr. Lee Park"}]
    bea = get(fhir, f"/fhir/Patient/{world.bea}")
    assert "telecom" not in bea and "address" not in bea and bea["communication"][0]["language"]["text"] == "English"

    def found(identifier: str | list[str]) -> list[str]:
        bundle = get(fhir, "/fhir/Patient", identifier=identifier)
        return sorted(entry["resource"]["id"] for entry in bundle.get("entry", []))

    system = "urn:oid:2.16.840.1.113883.3.999.1"
    assert found(f"{system}|{ADA['mrn']}") == [str(world.ada)]
    assert found(ADA["mrn"]) == [str(world.ada)]
    assert found(f"http://other.example/mrn|{ADA['mrn']}") == [] and found(f"|{ADA['mrn']}") == []
    assert found(f"{system}|") == sorted([str(world.ada), str(world.bea)])
    assert found(f"{ADA['mrn']},{BEA['mrn']}") == sorted([str(world.ada), str(world.bea)])  # either
    assert found([ADA["mrn"], BEA["mrn"]]) == []  # both at once: nobody
    assert found("NOBODY-1") == []


def test_observations_for_birads_in_snomed_and_density(fhir, world):
    bundle = get(fhir, "/fhir/Observation", patient=f"Patient/{world.ada}")
    by_id = {entry["resource"]["id"]: entry["resource"] for entry in bundle["entry"]}
    opened = world.ada_read_event - 1  # the case_opened event came just before the read
    assert sorted(by_id) == sorted([f"{opened}-birads", f"{opened}-density", f"{world.ada_read_event}-birads"])
    read = by_id[f"{world.ada_read_event}-birads"]
    assert read["valueCodeableConcept"] == {
        "coding": [{"system": "http://snomed.info/sct", "code": "397144001",
                    "display": "Mammography assessment (Category 4) - Suspicious abnormality, biopsy should be "
                               "considered"}],
        "text": "BI-RADS 4B: moderate suspicion of malignancy",
    }  # fmt: skip
    assert read["code"]["coding"][0]["code"] == "birads-assessment" and read["status"] == "final"
    assert read["effectiveDateTime"] == instant(T1) and read["subject"] == {"reference": f"Patient/{world.ada}"}
    assert by_id[f"{opened}-birads"]["valueCodeableConcept"]["coding"][0]["code"] == "397138000"  # 0 at opening
    density = by_id[f"{opened}-density"]
    assert density["valueCodeableConcept"]["coding"][0]["code"] == "c"
    assert density["valueCodeableConcept"]["text"] == "Density c: heterogeneously dense"
    system = density["code"]["coding"][0]["system"]

    def codes(**params) -> list[str]:
        found = get(fhir, "/fhir/Observation", **params)
        return sorted(entry["resource"]["code"]["coding"][0]["code"] for entry in found.get("entry", []))

    assert codes(code="birads-assessment") == ["birads-assessment"] * 4
    assert codes(code=f"{system}|breast-density") == ["breast-density"] * 2
    assert codes(code="breast-density", patient=f"Patient/{world.bea}") == ["breast-density"]
    assert codes(code="http://loinc.org|breast-density") == [] and codes(code="no-such-code") == []
    assert codes(code=f"{system}|") == sorted(["birads-assessment"] * 4 + ["breast-density"] * 2)
    for missing in ("1-foo", "abc", f"{world.ada_read_event}-density", "99999-birads"):
        assert fhir.get(f"/fhir/Observation/{missing}").status_code == 404, missing


def test_a_diagnostic_report_per_imaging_result_linking_its_orders_and_observation(fhir, world):
    report = checked(get(fhir, f"/fhir/DiagnosticReport/{world.ada_read_event}"))
    assert [item.reference for item in report.basedOn] == [f"ServiceRequest/{world.magnification_step}"]
    assert [item.reference for item in report.result] == [f"Observation/{world.ada_read_event}-birads"]
    assert report.conclusion == "BI-RADS 4B: moderate suspicion of malignancy"
    assert report.conclusionCode[0].coding[0].code == "397144001"
    assert report.code.coding[0].code == "77065" and report.category[0].coding[0].code == "RAD"
    assert report.status == "final" and report.subject.reference == f"Patient/{world.ada}"
    observation = get(fhir, f"/{report.result[0].reference.replace('Observation', 'fhir/Observation')}")
    assert observation["valueCodeableConcept"]["text"].startswith("BI-RADS 4B")
    for_bea = get(fhir, "/fhir/DiagnosticReport", patient=str(world.bea))
    assert for_bea["total"] == 1 and for_bea["entry"][0]["resource"]["conclusion"] == "BI-RADS 2: benign"
    assert fhir.get(f"/fhir/DiagnosticReport/{world.ada_read_event + 1}").status_code == 404  # a booking, no result


def test_letters_are_communications_without_the_pdf(fhir, world, committed):
    sent = get(fhir, f"/fhir/Communication/{world.sent_letter}")
    assert sent["status"] == "completed" and sent["sent"] == instant(T3)
    assert sent["recipient"] == [{"reference": f"Patient/{world.ada}"}] and sent["language"] == "es"
    assert sent["medium"][0]["coding"][0]["code"] == "MAILWRIT"
    assert sent["category"][0]["text"] == "Result letter (lay summary)"
    (result_letter,) = steps_of(committed, case_id=world.ada_case, kind="result_letter")
    assert sent["about"] == [{"reference": f"Task/{result_letter.id}"}]
    (payload,) = sent["payload"]
    assert set(payload) == {"contentString"} and "ab" * 32 in payload["contentString"]
    assert f"workup letter reprint {world.sent_letter}" in payload["contentString"]
    unsent = get(fhir, f"/fhir/Communication/{world.unsent_letter}")
    assert unsent["status"] == "preparation" and "sent" not in unsent
    assert unsent["recipient"] == [{"display": "FHIR Northside Imaging"}]
    letters = get(fhir, "/fhir/Communication", patient=f"Patient/{world.ada}")
    recipients = [entry["resource"]["recipient"][0] for entry in letters["entry"]]
    assert {"display": "Dr. Ana Ruiz"} in recipients
    assert get(fhir, "/fhir/Communication", patient=f"Patient/{world.bea}")["total"] == 0


def test_practitioners_are_the_navigators(fhir, world, users, committed):
    navigator = get(fhir, f"/fhir/Practitioner/{world.navigator_id}")
    assert navigator == {"resourceType": "Practitioner", "id": str(world.navigator_id),
                         "meta": navigator["meta"], "active": True, "name": [{"text": "Test navigator"}]}  # fmt: skip
    with committed.connect() as connection:
        admin = connection.execute(text("SELECT id FROM users WHERE role = 'admin'")).scalar_one()
    assert fhir.get(f"/fhir/Practitioner/{admin}").status_code == 404  # not a navigator, never assigned


def test_assigning_another_navigator_changes_the_tasks_of_the_case(fhir, world, browser_for, committed):
    before = get(fhir, "/fhir/Task", patient=f"Patient/{world.ada}", _lastUpdated=f"gt{instant(T3)}")
    assert before["total"] == 0
    navigator = browser_for("navigator")
    assert navigator.post_form(f"/cases/{world.ada_case}/assign", {"navigator": ""}).status_code == 303
    after = get(fhir, "/fhir/Task", patient=f"Patient/{world.ada}", _lastUpdated=f"gt{instant(T3)}", _count=100)
    assert after["total"] == len(steps_of(committed, case_id=world.ada_case))
    assert all("owner" not in entry["resource"] for entry in after["entry"])
