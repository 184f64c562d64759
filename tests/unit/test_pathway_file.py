"""The pathway file: the shipped one loads, broken variants are refused with file:line: place: message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PATHWAY_FILE
from tracking.pathway.definition import PathwayInvalid, build_pathway, load_pathway
from tracking.pathway.source import PathwayFileError, parse_source, read_source
from tracking.pathway.vocabulary import EventKind, StepKind

FILENAME = "calcifications.yaml"
TEXT = PATHWAY_FILE.read_text(encoding="utf-8")
WORKUP = Path(sys.executable).parent / "workup"
REPO = PATHWAY_FILE.parents[2]
PROBLEM_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<place>\(top level\)|[\w.\[\]]+): (?P<message>.+)$")


def edited(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, f"the pathway file no longer contains exactly one {old!r}"
    return TEXT.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line on which `needle` starts in `text`."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1


def problems_of(text: str) -> list[str]:
    with pytest.raises(PathwayInvalid) as raised:
        build_pathway(parse_source(text, FILENAME))
    assert raised.value.problems, "PathwayInvalid without problems"
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


# --- the shipped file -------------------------------------------------------------------------------------


def test_shipped_pathway_loads():
    pathway = load_pathway(PATHWAY_FILE)
    assert (pathway.name, pathway.version) == ("calcifications", 2)
    assert pathway.finding_types == ("calcifications",)
    assert set(pathway.steps) == {kind.value for kind in StepKind} | {"lost_patient_recontact", "referrer_lost_notice"}
    assert set(pathway.events) == {kind.value for kind in EventKind} - {"case_opened"} | {
        "screening_done_elsewhere",
        "referrer_notified",
    }
    assert pathway.content_hash == load_pathway(PATHWAY_FILE).content_hash and len(pathway.content_hash) == 64
    assert pathway.events["magnification_result"].recorded_by == ("navigator", "radiologist")
    assert pathway.events["result_letter_sent"].recorded_by == ("navigator",)
    assert pathway.timeliness["biopsy"] == ["stereotactic_biopsy", "open_surgical_biopsy"]
    assert pathway.surveillance == ("followup_6_month", "followup_12_month", "followup_24_month")
    assert pathway.downgrade_to == "2"
    assert pathway.is_screening("annual_screening")
    assert not pathway.is_screening("magnification_views")
    assert pathway.steps["prior_film_request"].per_facility
    assert pathway.steps["prior_film_request"].chase.at_days == (7, 14)
    assert pathway.steps["prior_film_request"].chase.escalate_at_day == 21
    assert pathway.steps["result_letter"].due.by_birads == {"4A": 7, "4B": 7, "4C": 7, "5": 7}
    assert pathway.steps["followup_6_month"].due.months == 6
    assert pathway.steps["followup_6_month"].due.window_days == 30
    assert pathway.events["biopsy_performed"].guards == ("G1", "G2", "G3")
    assert pathway.events["stereotactic_infeasible"].guards == ("G1", "G6")
    assert pathway.events["prior_films_unobtainable"].guards == ("G4",)
    assert pathway.choices("pathology")[:2] == ("dcis", "invasive_carcinoma")
    assert len(pathway.vocabularies["stereotactic_infeasible_reasons"]) == 5


def test_shipped_text_parses_with_parse_source():
    source = parse_source(TEXT, FILENAME)
    assert source.place(("steps", "ultrasound")) == f"{FILENAME}:{line_of(TEXT, '  ultrasound:')}: steps.ultrasound"
    assert build_pathway(source).name == "calcifications"


# --- broken variants ----------------------------------------------------------------------------------------


def test_badly_spelled_step_kind_under_steps():
    text = edited(
        "steps:\n  magnification_views:",
        "steps:\n  Biopsy-Clip-Check:\n    title: Clip check\n    due: {days: 3}\n  magnification_views:",
    )
    problems = problems_of(text)
    line = line_of(text, "  Biopsy-Clip-Check:")
    assert problems == [
        f"{FILENAME}:{line}: steps.Biopsy-Clip-Check: must be lower-case letters, digits and underscores, "
        "starting with a letter"
    ]


def test_a_new_step_kind_needs_no_code():
    text = edited(
        "steps:\n  magnification_views:",
        "steps:\n  biopsy_clip_check:\n    title: Clip check\n    due: {days: 3}\n  magnification_views:",
    )
    assert build_pathway(parse_source(text, FILENAME)).steps["biopsy_clip_check"].due.days == 3


def test_create_of_undeclared_step_in_on_open():
    text = edited("  - create: magnification_views\n", "  - create: mri_views\n")
    problems = problems_of(text)
    line = line_of(text, "  - create: mri_views")
    assert problems == [
        f"{FILENAME}:{line}: on_open[0].create: refers to step 'mri_views', which is not declared under steps"
    ]


def test_create_of_undeclared_step_in_assessment_outcomes():
    text = edited('"0": [{create: final_assessment}]', '"0": [{create: second_opinion}]')
    problems = problems_of(text)
    line = line_of(text, '  "0": [{create: second_opinion}]')
    assert problems == [
        f"{FILENAME}:{line}: assessment_outcomes.0[0].create: refers to step 'second_opinion', "
        "which is not declared under steps"
    ]


def test_cancel_of_undeclared_step_in_assessment_outcomes():
    text = edited(
        '"1": [{cancel: stereotactic_biopsy}, {cancel: open_surgical_biopsy}, {cancel: followup_6_month},',
        '"1": [{cancel: stereotactic_biopsy}, {cancel: vacuum_biopsy}, {cancel: followup_6_month},',
    )
    problems = problems_of(text)
    line = line_of(text, '  "1": [')
    assert problems == [
        f"{FILENAME}:{line}: assessment_outcomes.1[1].cancel: refers to step 'vacuum_biopsy', "
        "which is not declared under steps"
    ]


def test_create_of_undeclared_step_in_event_then():
    text = edited("then: [{create: open_surgical_biopsy}]", "then: [{create: laser_ablation}]")
    problems = problems_of(text)
    line = line_of(text, "    then: [{create: laser_ablation}]")
    assert problems == [
        f"{FILENAME}:{line}: events.stereotactic_infeasible.then[0].create: refers to step 'laser_ablation', "
        "which is not declared under steps"
    ]


def test_create_of_undeclared_step_in_event_outcomes():
    text = edited("      - then: [{create: followup_6_month}]", "      - then: [{create: followup_3_month}]")
    problems = problems_of(text)
    line = line_of(text, "      - then: [{create: followup_3_month}]")
    assert problems == [
        f"{FILENAME}:{line}: events.pathology_result.outcomes[2].then[0].create: "
        "refers to step 'followup_3_month', which is not declared under steps"
    ]


def test_undeclared_step_in_event_link():
    text = edited("    completes: rad_path_concordance\n", "    completes: tumour_board\n")
    problems = problems_of(text)
    line = line_of(text, "    completes: tumour_board")
    assert problems == [
        f"{FILENAME}:{line}: events.pathology_result.completes: refers to step 'tumour_board', "
        "which is not declared under steps"
    ]


def test_step_with_no_due_rule():
    text = edited("    laterality: bilateral\n    due: {days: 14}\n", "    laterality: bilateral\n")
    problems = problems_of(text)
    line = line_of(text, "  ultrasound:\n")
    assert problems[0] == (
        f"{FILENAME}:{line}: steps.ultrasound: missing due rule: every step needs 'due' with days and/or months"
    )
    assert len(problems) == 1  # the cause only, not every place the step is used


def test_due_rule_of_zero_is_refused():
    text = edited("    due: {days: 7}          # NAPBC: screening", "    due: {days: 0}          # NAPBC: screening")
    problems = problems_of(text)
    line = line_of(text, "    due: {days: 0}")
    assert (
        problems[0]
        == f"{FILENAME}:{line}: steps.magnification_views.due: a due rule needs days or months greater than 0"
    )


def test_negative_due_days_are_refused():
    text = edited("    due: {days: 28}", "    due: {days: -28}")
    problems = problems_of(text)
    line = line_of(text, "    due: {days: -28}")
    assert problems == [
        f"{FILENAME}:{line}: steps.surgical_consultation.due.days: must be a whole number of at least 0"
    ]


G6_CHECK = [check.guard for check in load_pathway(PATHWAY_FILE).checks].index("G6")


def test_unknown_guard():
    text = edited("  - guard: G6\n", "  - guard: G7\n")
    problems = problems_of(text)
    line = line_of(text, "  - guard: G7")
    assert problems == [
        f"{FILENAME}:{line}: checks[{G6_CHECK}].guard: unknown guard 'G7' (known: G1, G2, G3, G4, G5, G6)"
    ]


def test_reserved_event_kind():
    text = edited(
        "events:\n  magnification_result:",
        "events:\n  case_opened:\n    title: Opened again\n  magnification_result:",
    )
    problems = problems_of(text)
    line = line_of(text, "  case_opened:")
    assert problems == [
        f"{FILENAME}:{line}: events.case_opened: 'case_opened' is recorded by the product itself, "
        "not declared in a pathway"
    ]


def test_misspelled_key_is_refused_not_ignored():
    text = edited("    completes: rad_path_concordance\n", "    complete: rad_path_concordance\n")
    problems = problems_of(text)
    line = line_of(text, "    complete: rad_path_concordance")
    assert problems == [f"{FILENAME}:{line}: events.pathology_result.complete: unknown key 'complete'"]


def test_check_reading_a_field_the_event_lacks():
    text = edited("    when: {density_sentence_included: {is: false}}", "    when: {density_statement: {is: false}}")
    problems = problems_of(text)
    line = line_of(text, "    when: {density_statement: {is: false}}")
    assert len(problems) == 1 and problems[0].startswith(f"{FILENAME}:{line}: checks[")
    assert problems[0].endswith(".when.density_statement: event 'result_letter_sent' has no field 'density_statement'")


def test_every_problem_is_reported_not_just_the_first():
    text = edited("  - guard: G6\n", "  - guard: G7\n").replace(
        "  - create: magnification_views\n", "  - create: mri_views\n"
    )
    problems = problems_of(text)
    assert [PROBLEM_LINE.match(problem).group("place") for problem in problems] == [
        "on_open[0].create",
        f"checks[{G6_CHECK}].guard",
    ]


def test_missing_outcome_for_a_birads_category():
    text = edited(
        '  "5": [{cancel: followup_6_month}, {cancel: followup_12_month}, {cancel: followup_24_month},\n'
        "        {create: stereotactic_biopsy}]\n",
        "",
    )
    problems = problems_of(text)
    line = line_of(text, "assessment_outcomes:")
    assert problems == [f"{FILENAME}:{line}: assessment_outcomes: no outcome for BI-RADS 5"]


def test_missing_top_level_key_is_named():
    text = edited("version: 2\n", "")
    problems = problems_of(text)
    # the top level is placed at the line where the root mapping starts (after the header comments)
    line = line_of(text, "name: calcifications")
    assert problems == [f"{FILENAME}:{line}: (top level): missing required key 'version'"]


def test_invalid_yaml_raises_pathway_file_error_with_its_line():
    text = edited("name: calcifications\n", "name: calcifications\n\tversion_x: 2\n")
    with pytest.raises(PathwayFileError) as raised:
        parse_source(text, FILENAME)
    line = line_of(text, "\tversion_x")
    assert str(raised.value).startswith(f"{FILENAME}:{line}: not valid YAML: ")


def test_unclosed_flow_mapping_is_invalid_yaml_near_its_line():
    text = edited("    due: {days: 7}          # NAPBC: screening", "    due: {days: 7          # NAPBC: screening")
    with pytest.raises(PathwayFileError) as raised:
        parse_source(text, FILENAME)
    match = re.match(rf"^{re.escape(FILENAME)}:(\d+): not valid YAML: ", str(raised.value))
    assert match, str(raised.value)
    broken = line_of(text, "    due: {days: 7 ")
    # PyYAML reports the token after the unclosed brace: the broken line or the one after it
    assert int(match.group(1)) in (broken, broken + 1)


def test_unreadable_file_raises_pathway_file_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PathwayFileError) as raised:
        read_source(missing)
    assert str(raised.value).startswith(f"{missing}: cannot read pathway file")


# --- the CLI ------------------------------------------------------------------------------------------------


def run_check(*files: Path | str) -> subprocess.CompletedProcess[str]:
    assert WORKUP.exists(), WORKUP
    return subprocess.run(
        [str(WORKUP), "pathway", "check", *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def broken_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(
        edited("  - guard: G6\n", "  - guard: G7\n").replace(
            "  - create: magnification_views\n", "  - create: mri_views\n"
        ),
        encoding="utf-8",
    )
    return path


def test_cli_check_accepts_the_shipped_file():
    pathway = load_pathway(PATHWAY_FILE)
    result = run_check("config/pathways/calcifications.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"config/pathways/calcifications.yaml: ok: calcifications version 2, "
        f"{len(pathway.steps)} steps, {len(pathway.events)} events"
    )
    assert len(pathway.steps) >= 13 and len(pathway.events) >= 14
    assert result.stderr == ""


def test_cli_check_reports_every_problem_as_path_line_place_message(tmp_path):
    path = broken_file(tmp_path)
    text = path.read_text(encoding="utf-8")
    result = run_check(path)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    parsed = [PROBLEM_LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m.group("path"), int(m.group("line")), m.group("place")) for m in parsed] == [
        (str(path), line_of(text, "  - create: mri_views"), "on_open[0].create"),
        (str(path), line_of(text, "  - guard: G7"), f"checks[{G6_CHECK}].guard"),
    ]
    assert "ok:" not in result.stdout


def test_cli_check_reports_invalid_yaml_with_its_line(tmp_path):
    path = tmp_path / "tabbed.yaml"
    text = edited("name: calcifications\n", "name: calcifications\n\tversion_x: 2\n")
    path.write_text(text, encoding="utf-8")
    result = run_check(path)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:{line_of(text, chr(9))}: not valid YAML: ")


@pytest.mark.parametrize("kind", ["invalid", "missing"])
def test_cli_check_exits_non_zero_on_a_broken_file(tmp_path, kind):
    path = broken_file(tmp_path) if kind == "invalid" else tmp_path / "missing.yaml"
    result = run_check(path)
    assert result.stderr, "no problem reported"
    assert result.returncode == 2
