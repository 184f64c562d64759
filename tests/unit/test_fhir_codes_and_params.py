"""The FHIR mapping tables against the enumerations they map (a new value without a mapping fails here),
and search values parsed into the instants they cover. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.codeableconcept import CodeableConcept

from tests.fhir_support import STATUS_VALUE_SETS, checked
from tracking.cases.models import Step
from tracking.fhir import codes
from tracking.fhir.elements import FhirContext
from tracking.fhir.observation import birads_value
from tracking.fhir.outcome import FhirError
from tracking.fhir.params import SearchParam, Token, parse_date, parse_reference, parse_search
from tracking.fhir.service_request import service_request
from tracking.fhir.step_rows import StepRow
from tracking.fhir.task import task
from tracking.letters.kinds import LetterChannel, LetterKind, LetterStatus
from tracking.pathway.definition import all_pathways
from tracking.pathway.vocabulary import BIRADS_WORDS, StepStatus

CONTEXT = FhirContext("https://workup.test/fhir", "urn:oid:1.2.3", "Test Centre")
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(status: StepStatus, kind: str = "stereotactic_biopsy") -> StepRow:
    step = Step(id=7, case_id=3, kind=kind, laterality="left", status=status, due_at=AT + timedelta(days=7),
                scheduled_at=AT + timedelta(days=3) if status == StepStatus.scheduled else None,
                completed_at=AT + timedelta(days=4) if status == StepStatus.completed else None,
                result={"event_id": 9, "reason": "replaced"} if status in ("cancelled", "handed_off") else {},
                created_by_event_id=1, created_at=AT, updated_at=AT)  # fmt: skip
    return StepRow(step, 5, "calcifications", 2, 11, "Kim Lee", AT)


@pytest.mark.parametrize("status", list(StepStatus))
def test_every_step_status_is_a_valid_task_and_service_request(status):
    made = task(row(status), CONTEXT)
    checked(made)
    assert made["status"] == codes.STEP_STATUS[status].task
    assert made["businessStatus"]["text"] == codes.STEP_STATUS[status].words
    ordered = service_request(row(status), CONTEXT)
    checked(ordered)
    assert ordered["status"] in STATUS_VALUE_SETS["ServiceRequest"]


def test_every_bi_rads_category_of_every_pathway_is_snomed_coded():
    categories = {category for pathway in all_pathways() for category in pathway.choices("birads")}
    assert categories <= set(codes.BIRADS_SNOMED) and set(BIRADS_WORDS) <= set(codes.BIRADS_SNOMED)
    for category in categories:
        concept = birads_value(category)
        CodeableConcept.model_validate(concept)
        assert concept["text"].startswith(f"BI-RADS {category}: ")
        assert concept["coding"][0]["display"] == codes.SNOMED_BIRADS_DISPLAY[concept["coding"][0]["code"]]
    assert {birads_value(sub)["coding"][0]["code"] for sub in ("4A", "4B", "4C")} == {"397144001"}
    assert birads_value("6")["coding"][0]["code"] == "6111000179101"
    assert birads_value("0")["coding"][0]["code"] == "397138000"


def test_the_letter_tables_cover_every_kind_channel_and_status():
    assert set(codes.LETTER_WORDS) == set(LetterKind)
    assert set(codes.LETTER_MEDIUM) == set(LetterChannel)
    assert set(codes.LETTER_STATUS) == set(LetterStatus)
    assert set(codes.LETTER_STATUS.values()) <= STATUS_VALUE_SETS["Communication"]


def test_every_ordered_exam_is_a_step_of_a_pathway():
    kinds = {kind for pathway in all_pathways() for kind in pathway.steps}
    assert set(codes.ORDERED) <= kinds
    assert all(ordered.category in codes.SERVICE_CATEGORIES for ordered in codes.ORDERED.values())
    assert all(code in codes.CPT_DISPLAY for ordered in codes.ORDERED.values() for code in ordered.cpt.values())


@pytest.mark.parametrize(
    ("value", "prefix", "start", "end"),
    [
        ("2026", "eq", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("ge2026-12", "ge", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("lt2026-03-02", "lt", datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
        ("gt2026-03-02T09:00Z", "gt", AT, AT + timedelta(minutes=1)),
        ("le2026-03-02T09:00:00Z", "le", AT, AT + timedelta(seconds=1)),
        ("2026-03-02T09:00:00.5Z", "eq", AT + timedelta(milliseconds=500), AT + timedelta(milliseconds=600)),
        ("2026-03-02T09:00:00.000001Z", "eq", AT + timedelta(microseconds=1), AT + timedelta(microseconds=2)),
        ("2026-03-02T10:00:00+01:00", "eq", AT, AT + timedelta(seconds=1)),
        ("2026-03-02T10:00:00 01:00", "eq", AT, AT + timedelta(seconds=1)),  # '+' unescaped in a query string
        ("2026-03-02T04:00:00-05:00", "eq", AT, AT + timedelta(seconds=1)),
    ],
)
def test_a_date_covers_the_instants_of_its_precision(value, prefix, start, end):
    found = parse_date("_lastUpdated", value)
    assert (found.prefix, found.start, found.end) == (prefix, start, end)


def test_a_date_without_a_zone_is_on_the_centres_clock(configure):
    configure(WORKUP_TIMEZONE="America/New_York")
    zone = ZoneInfo("America/New_York")
    day = parse_date("_lastUpdated", "2026-03-08")  # the spring-forward day: 23 hours
    assert (day.start, day.end) == (datetime(2026, 3, 8, tzinfo=zone), datetime(2026, 3, 9, tzinfo=zone))
    assert day.end.astimezone(UTC) - day.start.astimezone(UTC) == timedelta(hours=23)
    minute = parse_date("_lastUpdated", "2026-03-02T04:00")
    assert minute.start == AT and minute.end == AT + timedelta(minutes=1)


@pytest.mark.parametrize("value", ["2026-13", "2026-02-29", "2026-03-02T25:00Z", "2026-03-02T09:00+15:00",
                                   "ne2026", "sa2026", "yesterday", "1899", "2200-01-01", "2026-3-2"])  # fmt: skip
def test_a_bad_date_is_refused_naming_the_parameter(value):
    with pytest.raises(FhirError) as refused:
        parse_date("_lastUpdated", value)
    assert refused.value.status == 400 and refused.value.parameter == "_lastUpdated"
    assert refused.value.message.startswith("_lastUpdated: ")


def test_references_tokens_and_paging():
    base = "https://workup.test/fhir"
    assert [parse_reference("patient", value, "Patient", base) for value in ("5", "Patient/5", f"{base}/Patient/5")] == [
        5, 5, 5]  # fmt: skip
    for bad in ("Task/5", "https://elsewhere.test/fhir/Patient/5", "0", "2147483648", "Patient/", "x"):
        with pytest.raises(FhirError):
            parse_reference("patient", bad, "Patient", base)
    supported = {"identifier": SearchParam("identifier", "token", "MRN")}
    request = parse_search("Patient", [("identifier", "s|a\\,b,c"), ("identifier", "|d"), ("_count", "500"),
                                       ("_offset", "40"), ("_total", "none")], supported, base=base)  # fmt: skip
    assert request.groups("identifier") == [[Token("s", "a,b"), Token(None, "c")], [Token("", "d")]]
    assert (request.count, request.offset, request.total) == (100, 40, False)
    assert request.given == [("identifier", "s|a\\,b,c"), ("identifier", "|d")]
