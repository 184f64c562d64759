"""The recall form (GET /cases/new, POST /cases) against the real database: a case opened from a page.

Every refused submit answers 422 with an error summary linking to a field and writes nothing; a valid
one opens exactly one case, once, however often it is sent.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import seed_opening
from tracking.cases.models import Case, OutsideFacility, Patient, PriorFilmRequest, Step
from tracking.cases.opening import open_case
from tracking.cases.queries import other_open_cases
from tracking.centre_time import input_value
from tracking.facilities.directory import FacilityEntry, add_facility

TABLES = ("patients", "cases", "case_events", "steps", "outside_facilities", "prior_film_requests", "case_runs")
DIRECTORY_NAME = "Directory Breast Centre"


def valid_form(**overrides: str) -> dict[str, str]:
    values = {
        "key": str(uuid.uuid4()),
        "mrn": f"FORM-{uuid.uuid4().hex[:10]}",
        "given_name": "Ada",
        "family_name": "Formcase",
        "birth_date": "1961-07-30",
        "phone1_label": "mobile",
        "phone1_number": "+1 617 555 0134",
        "phone2_label": "home",
        "phone2_number": "",
        "address": "12 Elm Street\nSomerville, MA 02144",
        "preferred_language": "es",
        "interpreter_needed": "yes",
        "may_leave_message": "no",
        "referring_provider": "Dr Rivera",
        "primary_care_provider": "",
        "laterality": "right",
        "finding_type": "calcifications",
        "density": "c",
        "birads": "0",
        "occurred_at": "",
        "new1_name": "",
        "new1_channel": "",
        "new1_contact": "",
        "new1_phone": "",
    }
    values.update(overrides)
    return values


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def summary_links(html: str) -> list[str]:
    """The field ids the error summary links to."""
    block = re.search(r'<div class="problem" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert block, "no error summary"
    return re.findall(r'<a href="#([^"]+)">', block.group(1))


def field_ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def refused(response, *fields: str) -> str:
    """Assert a 422 whose summary links to existing elements, among them `fields`; the page text."""
    assert response.status_code == 422, response.text[:500]
    links = summary_links(response.text)
    assert links and set(links) <= field_ids(response.text), links
    for field in fields:
        assert field in links, (field, links)
        assert f'id="{field}-error"' in response.text or field == "facilities"
    assert "data-focus" in response.text and "/static/focus.js" in response.text
    return unescape(response.text)


@pytest.fixture
def navigator(browser_for):
    return browser_for("navigator")


@pytest.fixture
def directory(committed) -> int:
    with Session(committed) as session:
        facility = add_facility(
            session,
            FacilityEntry(name=DIRECTORY_NAME, channel="fax", contact="+1 617 555 0100", phone="+1 617 555 0101"),
            actor="test",
            now=datetime.now(UTC),
        )
        session.commit()
        return facility.id


def test_the_form_is_for_navigators(browser_for):
    navigator = browser_for("navigator").get("/cases/new")
    assert navigator.status_code == 200
    html = navigator.text
    assert "<h1>Open a recall case</h1>" in html and 'aria-current="page"' in html
    for legend in ("Patient", "How to reach her (optional)", "The finding"):
        assert f"<legend>{legend}</legend>" in html
    assert re.search(r'name="key" value="[0-9a-f-]{36}"', html)
    assert '<optgroup label="Masses, asymmetries and architectural distortion">' in html
    assert "Exam date and time (UTC)" in html
    for role in ("radiologist", "ops", "read_only", "admin"):
        assert browser_for(role).get("/cases/new").status_code == 403, role
        assert browser_for(role).post_form("/cases", valid_form()).status_code == 403, role


def test_a_valid_submit_opens_one_case_with_her_details_and_facilities(browser_for, committed, directory):
    navigator = browser_for("navigator")
    form = valid_form(facility=DIRECTORY_NAME, new1_name="  New   Harbor Imaging ", new1_channel="email",
                      new1_contact="films@harbor.test", new1_phone="617 555 0199", palpable="yes")  # fmt: skip
    before = counts(committed)
    response = navigator.post_form("/cases", form)
    assert response.status_code == 303, response.text[:2000]
    case_id = int(re.fullmatch(r"/cases/(\d+)\?saved=opened", response.headers["location"]).group(1))
    after = counts(committed)
    assert after["cases"] == before["cases"] + 1 and after["patients"] == before["patients"] + 1
    assert after["outside_facilities"] == before["outside_facilities"] + 1
    with Session(committed) as session:
        case = session.get(Case, case_id)
        patient = session.get(Patient, case.patient_id)
        assert (case.laterality, case.finding_type, case.density, case.birads, case.palpable) == (
            "right", "calcifications", "c", "0", True)  # fmt: skip
        assert case.pathway_name == "calcifications"
        assert (patient.mrn, patient.given_name, patient.family_name) == (form["mrn"], "Ada", "Formcase")
        assert patient.birth_date == date(1961, 7, 30)
        assert patient.phones == [{"label": "mobile", "number": "+16175550134"}]
        assert patient.address == "12 Elm Street\nSomerville, MA 02144"
        assert (patient.preferred_language, patient.interpreter_needed, patient.may_leave_message) == (
            "es",
            True,
            False,
        )
        assert patient.referring_provider == "Dr Rivera" and patient.primary_care_provider is None
        new = session.exec(select(OutsideFacility).where(OutsideFacility.name == "New Harbor Imaging")).one()
        assert (new.channel, new.contact, new.phone) == ("email", "films@harbor.test", "+16175550199")
        requested = session.exec(select(PriorFilmRequest.facility_id).where(PriorFilmRequest.case_id == case_id)).all()
        assert sorted(requested) == sorted([directory, new.id])
        kinds = set(session.exec(select(Step.kind).where(Step.case_id == case_id)).all())
        assert {"magnification_views", "prior_film_request"} <= kinds
        actions = session.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
        assert "facility.added" in actions and "case.opened" in actions
        detail = session.execute(text("SELECT detail::text FROM audit_log")).scalars().all()
        assert not any("Formcase" in str(row) or "555" in str(row) for row in detail)  # ids only, never PHI


def test_a_double_submit_opens_one_case(browser_for, committed):
    navigator = browser_for("navigator")
    form = valid_form(new1_name="Twice Imaging", new1_channel="email", new1_contact="films@twice.test")
    first = navigator.post_form("/cases", form)
    before = counts(committed)
    second = navigator.post_form("/cases", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert counts(committed) == before


def test_the_exam_time_is_read_on_the_centre_clock(browser_for, committed, configure):
    configure(WORKUP_TIMEZONE="America/New_York")
    exam = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3)
    response = browser_for("navigator").post_form("/cases", valid_form(occurred_at=input_value(exam)))
    assert response.status_code == 303, response.text[:2000]
    case_id = int(response.headers["location"].split("/")[2].split("?")[0])
    with Session(committed) as session:
        assert session.get(Case, case_id).opened_at == exam


def test_a_known_mrn_with_the_same_person_adds_the_case_to_her(browser_for, committed):
    with Session(committed) as session:
        first = open_case(session, seed_opening(facilities=[]), actor="test", now=datetime.now(UTC)).case_id
        session.commit()
    navigator = browser_for("navigator")
    lookup = navigator.get("/cases/new/patient?mrn=TEST-SEED-1")
    assert lookup.status_code == 200 and "Known patient:" in lookup.text and "Maren Testcase" in lookup.text
    assert f'href="/cases/{first}"' in lookup.text and "1 open case:" in lookup.text
    assert navigator.get("/cases/new/patient?mrn=NOBODY").text.strip() == ""
    form = valid_form(mrn="TEST-SEED-1", given_name="maren", family_name="TESTCASE", birth_date="1968-04-12",
                      phone1_number="", address="", preferred_language="", interpreter_needed="",
                      may_leave_message="", referring_provider="")  # fmt: skip
    before = counts(committed)
    response = navigator.post_form("/cases", form)
    assert response.status_code == 303, response.text[:2000]
    case_id = int(re.fullmatch(r"/cases/(\d+)\?saved=added_to_patient", response.headers["location"]).group(1))
    after = counts(committed)
    assert after["patients"] == before["patients"] and after["cases"] == before["cases"] + 1
    with Session(committed) as session:
        case = session.get(Case, case_id)
        patient = session.exec(select(Patient).where(Patient.mrn == "TEST-SEED-1")).one()
        assert case.patient_id == patient.id
        assert other_open_cases(session, patient.id, case_id) == 1
        assert patient.phones == [] and patient.contact_updated_at is None  # nothing typed: her details kept


def test_a_known_patient_s_details_are_replaced_when_given(browser_for, committed):
    with Session(committed) as session:
        open_case(session, seed_opening(facilities=[]), actor="test", now=datetime.now(UTC))
        session.commit()
    form = valid_form(mrn="TEST-SEED-1", given_name="Maren", family_name="Testcase", birth_date="1968-04-12")
    assert browser_for("navigator").post_form("/cases", form).status_code == 303
    with Session(committed) as session:
        patient = session.exec(select(Patient).where(Patient.mrn == "TEST-SEED-1")).one()
        assert patient.phones == [{"label": "mobile", "number": "+16175550134"}]
        assert patient.contact_updated_at is not None
        changed = session.execute(
            text("SELECT detail FROM audit_log WHERE action = 'patient.contact_changed'")
        ).scalar_one()
        assert "phones" in changed["fields"] and "Elm" not in str(changed)


def test_a_known_mrn_of_another_person_is_refused_on_the_mrn(browser_for, committed):
    with Session(committed) as session:
        open_case(session, seed_opening(facilities=[]), actor="test", now=datetime.now(UTC))
        session.commit()
    before = counts(committed)
    form = valid_form(mrn="TEST-SEED-1", new1_name="Never Added", new1_channel="email", new1_contact="x@never.test")
    page = refused(browser_for("navigator").post_form("/cases", form), "mrn")
    assert "This MRN belongs to a patient with another name or date of birth" in page
    assert counts(committed) == before
    assert 'value="Never Added"' in page and f'value="{form["key"]}"' in page  # typed values and the key kept


def test_a_new_facility_already_in_the_directory_is_refused(browser_for, committed, directory):
    before = counts(committed)
    form = valid_form(new1_name=DIRECTORY_NAME.upper(), new1_channel="email", new1_contact="a@b.test")
    page = refused(browser_for("navigator").post_form("/cases", form), "new1_name")
    assert "already in the directory: tick it" in page
    assert counts(committed) == before


def test_every_missing_answer_is_named(browser_for, committed):
    before = counts(committed)
    response = browser_for("navigator").post_form("/cases", {})
    page = refused(response, "mrn", "given_name", "family_name", "birth_date", "laterality", "finding_type",
                   "density", "birads")  # fmt: skip
    assert "Enter the MRN" in page and "Choose the side" in page and "Enter the date of birth" in page
    assert summary_links(response.text)[:4] == ["mrn", "given_name", "family_name", "birth_date"]  # page order
    assert counts(committed) == before


# Each generated bad value goes into one field of an otherwise valid form; the field it should be named on.
NOW = datetime.now(UTC)
BAD_VALUES = {
    "mrn": st.sampled_from(["", "   ", "M" * 65, "MRN\x00", "MR\nN", "\x1b[31m"]),
    "given_name": st.sampled_from(["", "x" * 201, "Ada\x07", "A\rB"]),
    "family_name": st.sampled_from(["", "y" * 201, "\x00"]),
    "birth_date": st.sampled_from(["", "1961-02-30", "30/07/1961", "1899-12-31", "2999-01-01", "yesterday", "\x00"]),
    "phone1_number": st.sampled_from(["12", "not a phone", "+1 555", "1" * 41, "+44 20 7946\x000958"]),
    "phone1_label": st.sampled_from(["pager", "\x00"]),
    "address": st.sampled_from(["a\x00b", "z" * 501]),
    "preferred_language": st.sampled_from(["klingon-lang-x", "1"]),
    "preferred_language_other": st.sampled_from(["", "x", "polish", "p\x00"]),
    "may_leave_message": st.sampled_from(["maybe", "true"]),
    "referring_provider": st.sampled_from(["r" * 201, "Dr\nNo"]),
    "laterality": st.sampled_from(["", "middle", "LEFT "]),
    "finding_type": st.sampled_from(["", "lump", "Calcifications", "mass\x00"]),
    "density": st.sampled_from(["", "e", "dense"]),
    "birads": st.sampled_from(["", "7", "4D", "00"]),
    "occurred_at": st.sampled_from(
        [
            "soon",
            "2026-02-30T10:00",
            "0001-01-01T00:00",
            "1800-01-01T00:00",
            "9999-12-31T23:59",
            input_value(NOW + timedelta(days=2)),
            input_value(NOW - timedelta(days=800)),
            "2026-13-01",
        ]
    ),  # fmt: skip
    "facility": st.sampled_from(["Nowhere Imaging", "bad\x00name"]),
    "new1_contact": st.sampled_from(["not-an-email", "films@", "", "a" * 501]),
    "new1_channel": st.sampled_from(["", "pigeon"]),
    "new1_name": st.sampled_from(["", "n" * 201, "bad\x00name"]),
    "new1_phone": st.sampled_from(["1", "call me"]),
}
ALSO = {  # what a bad value needs besides itself to be read at all
    "preferred_language_other": {"preferred_language": "other"},
    "new1_contact": {"new1_name": "Generated Imaging", "new1_channel": "email"},
    "new1_channel": {"new1_name": "Generated Imaging", "new1_contact": "films@generated.test"},
    "new1_name": {"new1_channel": "email", "new1_contact": "films@generated.test"},
    "new1_phone": {"new1_name": "Generated Imaging", "new1_channel": "email", "new1_contact": "films@gen.test"},
}
NAMED_ON = {"facility": "facilities", "preferred_language": "preferred_language"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(BAD_VALUES)), data=st.data())
def test_generated_bad_values_are_refused_on_their_field_and_write_nothing(navigator, committed, field, data):
    value = data.draw(BAD_VALUES[field], label=field)
    before = counts(committed)
    response = navigator.post_form("/cases", valid_form(**ALSO.get(field, {}), **{field: value}))
    assert response.status_code == 422, (field, value, response.status_code, response.text[:1500])
    links = summary_links(response.text)
    assert links and set(links) <= field_ids(response.text)
    expected = NAMED_ON.get(field, field)
    anchor = "facility-1" if expected == "facilities" and "facility-1" in field_ids(response.text) else None
    assert expected in links or anchor in links or (expected == "facilities" and "new1_name" in links), (field, links)
    assert counts(committed) == before


# The API carries the same contact details as the form (CaseOpening.contact).
CONTACT = {"phones": [{"label": "home", "number": "+1 (617) 555-0134"}], "preferred_language": "vi"}


def test_the_api_carries_the_contact(api_for, committed):
    body = seed_opening(facilities=[]).model_dump(mode="json", exclude={"occurred_at", "contact"}) | {
        "contact": CONTACT
    }
    response = api_for("navigator").post("/api/cases", json=body)
    assert response.status_code == 201, response.text
    with committed.connect() as connection:
        phones = connection.execute(text("SELECT phones FROM patients WHERE mrn = 'TEST-SEED-1'")).scalar_one()
    assert phones == [{"label": "home", "number": "+16175550134"}]
    bad = api_for("navigator").post(
        "/api/cases", json=body | {"mrn": "OTHER-1", "contact": {"phones": [{"number": "x"}]}}
    )
    assert bad.status_code == 422 and "phone" in bad.text
