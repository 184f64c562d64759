"""The site's HL7 mapping file (checked against the pathways, errors named file:line), reading
fields out of real-feed messages, HL7 times, and BI-RADS categories named in a report's words."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest

from tracking.cases.errors import InvalidInput
from tracking.hl7.impression import birads_in_text
from tracking.hl7.mapping import MappingInvalid, read_mapping
from tracking.hl7.reading import Reader, hl7_moment
from tracking.settings import REPO_ROOT

DEFAULT = REPO_ROOT / "config" / "interfaces" / "hl7.yaml"


def test_the_default_mapping_knows_the_common_us_codes():
    mapping = read_mapping(DEFAULT)
    assert mapping.procedure("77065").steps[0] == "magnification_views"
    assert mapping.procedure("77065-LT").code == "77065" and mapping.modifier_side("77065-LT") == "left"
    assert mapping.procedure("76642").steps == ("ultrasound", "targeted_ultrasound")
    assert mapping.procedure("19083").fields == {"route": "ultrasound"}
    assert mapping.procedure("77049").steps == ("mri_followup_6_month",)
    assert not mapping.procedure("77067").diagnostic
    assert mapping.procedure("88305").review
    assert mapping.procedure("71046") is None
    assert mapping.birads.values["6111000179101"] == "6"
    assert mapping.language("SPA") == "es" and mapping.language("pt-BR") == "pt-br"


@pytest.mark.parametrize(
    ("change", "problem", "at"),
    [
        (
            ("steps: [magnification_views]", "steps: [magnification_viewz]"),
            "no pathway has a step 'magnification_viewz'",
            "magnification_viewz",
        ),
        (("results_need_order: true", "results_need_order: true\ncolour: blue"), "unknown key 'colour'", "colour:"),
        (('BR4B: "4B"', 'BR4B: "4D"'), "'4D' is not one of", 'BR4B: "4D"'),
        (("ADT^A40]", "ADT^A40, MDM^T02]"), "no handler for MDM^T02", "MDM^T02"),
        (
            (
                "specimen_radiograph: {identifiers: [SPECIMEN_RADIOGRAPH]}",
                "specimen_radiograph: {identifiers: [BIRADS]}",
            ),
            "OBX identifier BIRADS is already read as birads",
            "specimen_radiograph: {identifiers: [BIRADS]}",
        ),
        (
            ("fields: {route: ultrasound}", "fields: {routes: ultrasound}"),
            "no pathway event has a field 'routes'",
            "routes: ultrasound",
        ),
        (("senders: [RIS, PATHLAB]", "senders: []"), "at least 1 item", "senders: []"),
    ],
)
def test_a_mistake_in_the_mapping_is_named_with_its_file_and_line(tmp_path, change, problem, at):
    original = DEFAULT.read_text()
    old, new = change
    assert old in original
    path = tmp_path / "hl7.yaml"
    changed = original.replace(old, new, 1)
    path.write_text(changed)
    with pytest.raises(MappingInvalid) as invalid:
        read_mapping(path)
    found = [line for line in invalid.value.problems if problem in line]
    assert found, invalid.value.problems
    expected_line = changed[: changed.index(at)].count("\n") + 1
    assert found[0].startswith(f"{path}:{expected_line}: "), (found[0], expected_line)


def test_a_file_that_is_not_yaml_or_not_there(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("senders: [RIS\nmessage_types: x")
    with pytest.raises(MappingInvalid, match="broken.yaml:"):
        read_mapping(broken)
    with pytest.raises(MappingInvalid, match="cannot read"):
        read_mapping(tmp_path / "missing.yaml")


def test_fields_of_a_real_feed_message_read_whatever_their_quirks():
    raw = ("MSH|^~\\&|ris|X|W|X|20260302||oru^r01^ORU_R01|C-1|P|2.3\r"
           "PID|1||111^^^SSA^SS~HL7-1^^^RIVERSIDE&1.2.3&ISO^MR||O\\S\\Brien\\T\\Co^Ann||\"\"\r"
           "OBX|1|TX|IMP||Line one \\F\\ pipe & ampersand~Line two\r"
           "ZZZ|ignored")  # fmt: skip
    reader = Reader(hl7.parse(raw))
    assert reader.message_type() == "ORU^R01" and reader.sending_application() == "RIS"
    pid = reader.first("PID")
    assert [parts[0] for parts in reader.repetitions(pid, 3)] == ["111", "HL7-1"]
    assert reader.value(pid, 3, 4, repetition=2) == "RIVERSIDE"  # the authority's first subcomponent
    assert reader.value(pid, 5, 1) == "O^Brien&Co"
    assert reader.value(pid, 7) == "" and reader.value(pid, 40) == ""  # HL7 null, past the segment's end
    assert reader.text(reader.first("OBX"), 5) == "Line one | pipe & ampersand\nLine two"
    assert reader.first("NTE") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260302", datetime(2026, 3, 2, tzinfo=UTC)),
        ("202603020930", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ("20260302093015.1234", datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC)),
        ("20260302093000-0500", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)),
        ("", None),
    ],
)
def test_hl7_times(value, expected):
    assert hl7_moment(value, "OBR-7") == expected


@pytest.mark.parametrize("value", ["2026-03-02", "20261302", "20260230", "202603021", "20260302+2500", "soon"])
def test_a_time_that_is_not_one_is_refused_by_name(value):
    with pytest.raises(InvalidInput, match="OBR-7"):
        hl7_moment(value, "OBR-7")


def test_a_time_without_offset_is_on_the_centres_clock(configure):
    configure(WORKUP_TIMEZONE="America/New_York")
    assert hl7_moment("202603020930", "OBR-7") == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("IMPRESSION: BI-RADS 4B: suspicious.", ["4B"]),
        ("Category 4", ["4"]),
        ("BI-RADS: 0 - incomplete", ["0"]),
        ("bi-rads category 3, probably benign", ["3"]),
        ("BIRADS 5", ["5"]),
        ("Right breast BI-RADS 1. Left breast BI-RADS 4A.", ["1", "4A"]),
        ("BI-RADS 4B ... again BI-RADS 4B", ["4B"]),
        ("No assessment given; 4 views obtained.", []),
        ("BI-RADS 10", []),
        ("Category 5a", ["5"]),
    ],
)
def test_bi_rads_named_in_the_words(text, found):
    assert birads_in_text(text) == found
