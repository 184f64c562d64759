"""The `workup` command as operations staff use it: real processes against the test database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

WORKUP = str(Path(sys.executable).parent / "workup")
SEED_FLAGS = [
    "--mrn", "CLI-SEED-1", "--given-name", "Maren", "--family-name", "Clitest", "--birth-date", "1968-04-12",
    "--laterality", "left", "--density", "c",
    "--facility", "CLI Northside Imaging=email:films@northside.test",
    "--facility", "CLI Lakeview Health=webhook:http://127.0.0.1:9/priors",
]  # fmt: skip


@pytest.fixture
def workup(database_url, committed):
    """Run `workup ARGS`; returns the completed process (never raises on a non-zero exit)."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test", **(env or {})}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


def one_clear_line(process: subprocess.CompletedProcess) -> str:
    assert process.returncode != 0
    assert "Traceback" not in process.stderr
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, process.stderr
    return lines[0]


def count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def open_seed(workup) -> dict:
    process = workup("case", "open", *SEED_FLAGS, "--json")
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def test_seed_patient_opened_through_cli_has_exactly_the_immediate_steps(workup):
    opened = open_seed(workup)
    steps = sorted((step["kind"], step["laterality"] or "", step["status"]) for step in opened["steps"])
    assert steps == [
        ("annual_screening", "right", "pending"),
        ("final_assessment", "", "pending"),
        ("magnification_views", "left", "pending"),
        ("prior_film_request", "", "pending"),
        ("prior_film_request", "", "pending"),
        ("ultrasound", "bilateral", "pending"),
    ]
    assert sorted(request["facility"] for request in opened["prior_film_requests"]) == [
        "CLI Lakeview Health",
        "CLI Northside Imaging",
    ]
    shown = workup("case", "show", str(opened["case_id"]))
    assert shown.returncode == 0 and "magnification views" in shown.stdout and "Clitest, Maren" in shown.stdout


def test_biopsy_before_magnification_is_refused_naming_them_and_saves_nothing(workup, committed):
    case_id = open_seed(workup)["case_id"]
    events_before = count(committed, "case_events")
    process = workup(
        "event", "record", str(case_id), "biopsy_scheduled",
        "--data", '{"procedure": "stereotactic", "scheduled_for": "2026-12-01T09:00:00Z"}',
    )  # fmt: skip
    line = one_clear_line(process)
    assert process.returncode == 4
    assert line.startswith("error: G1: Magnification views of the left breast are not done yet")
    assert count(committed, "case_events") == events_before
    performed = workup(
        "event", "record", str(case_id), "biopsy_performed", "--data", '{"procedure": "stereotactic", "cores": 6}'
    )
    assert "G1: Magnification views" in one_clear_line(performed)


def test_event_record_from_file_with_idempotency_key(workup, committed, tmp_path):
    case_id = open_seed(workup)["case_id"]
    event_file = tmp_path / "mag.json"
    event_file.write_text(json.dumps({"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"}))
    args = ["event", "record", str(case_id), "magnification_result", "--file", str(event_file), "--idempotency-key"]
    first = workup(*args, "mag-1", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["case_version"] == 2 and not result["replayed"]
    assert [step["kind"] for step in result["outcome"]["created"]] == ["stereotactic_biopsy", "result_letter"]
    again = workup(*args, "mag-1")
    assert again.returncode == 0 and "already recorded" in again.stdout
    assert count(committed, "case_events") == 2


@pytest.mark.parametrize(
    ("args", "exit_code", "expected"),
    [
        (["event", "record", "1", "assessment", "--data", "{oops"], 2, "--data is not valid JSON"),
        (["event", "record", "1", "assessment"], 2, "exactly one of --data JSON or --file F"),
        (["event", "record", "424242", "ultrasound_result", "--data", "{}"], 3, "case 424242 does not exist"),
        (["case", "show", "424242"], 3, "case 424242 does not exist"),
        (["case", "open", "--mrn", "X1"], 2, "invalid input: given_name: Field required"),
        (["case", "open", "--file", "/nonexistent/case.json"], 2, "cannot read /nonexistent/case.json"),
        (["overdue", "--step", "biopsy"], 2, "unknown step kind 'biopsy'"),
        (["overdue", "--now", "yesterday"], 2, "--now must be an ISO 8601 date-time"),
    ],
)
def test_bad_input_gets_one_clear_line(workup, args, exit_code, expected):
    process = workup(*args)
    assert expected in one_clear_line(process)
    assert process.returncode == exit_code


def test_guard_refusal_on_bad_field_value(workup):
    case_id = open_seed(workup)["case_id"]
    process = workup("event", "record", str(case_id), "magnification_result", "--data", '{"birads": "9"}')
    assert "'birads' of 'magnification_result' must be one of 0, 1, 2, 3, 4A" in one_clear_line(process)


def test_case_open_from_json_file(workup, tmp_path):
    case_file = tmp_path / "case.json"
    case_file.write_text(
        json.dumps(
            {
                "mrn": "CLI-JSON-1",
                "given_name": "Ada",
                "family_name": "Jsonfile",
                "birth_date": "1972-02-02",
                "laterality": "right",
                "density": "b",
            }
        )
    )
    process = workup("case", "open", "--file", str(case_file), "--json")
    assert process.returncode == 0, process.stderr
    kinds = sorted(step["kind"] for step in json.loads(process.stdout)["steps"])
    assert kinds == ["annual_screening", "magnification_views"]  # not dense, no outside priors


def test_overdue_json_csv_and_filters(workup):
    case_id = open_seed(workup)["case_id"]
    later = "2099-01-01T00:00:00+00:00"  # a simulation: far past the wall clock, so --allow-future
    as_json = json.loads(workup("overdue", "--json", "--now", later, "--allow-future").stdout)
    assert {row["step"] for row in as_json} == {
        "magnification_views",
        "ultrasound",
        "prior_film_request",
        "final_assessment",
        "annual_screening",
    }
    assert all(row["case_id"] == case_id for row in as_json)
    assert [row["due_at"] for row in as_json] == sorted(row["due_at"] for row in as_json)
    ultrasound = workup("overdue", "--csv", "--step", "ultrasound", "--now", later, "--allow-future")
    rows = list(csv.DictReader(io.StringIO(ultrasound.stdout)))
    assert [(row["case_id"], row["step"]) for row in rows] == [(str(case_id), "ultrasound")]
    assert json.loads(workup("overdue", "--json").stdout) == []  # nothing is overdue the day it opens
    table = workup("overdue", "--now", later, "--allow-future", "--older-than", "1")
    assert table.returncode == 0 and "OVERDUE" in table.stdout


def test_demo_loads_once_and_worklist_puts_seed_on_top(workup, committed):
    first = workup("demo", "--force")  # DATABASE_URL names the test database
    assert first.returncode == 0, first.stderr
    cases_after_first = count(committed, "cases")
    events_after_first = count(committed, "case_events")
    assert workup("demo", "--force").returncode == 0
    assert (count(committed, "cases"), count(committed, "case_events")) == (cases_after_first, events_after_first)
    assert cases_after_first >= 10
    worklist = json.loads(workup("worklist", "--json").stdout)
    assert worklist[0]["mrn"] == "DEMO-SEED" and worklist[0]["step"] == "magnification_views"
    assert worklist[0]["days_overdue"] > 0
    overdue = [row for row in worklist if row["days_overdue"] > 0]
    assert overdue == worklist[: len(overdue)]  # overdue first
    with committed.connect() as connection:
        statuses = dict(connection.execute(text("SELECT status, count(*) FROM cases GROUP BY status")).all())
        branches = {row[0] for row in connection.execute(text("SELECT kind FROM steps"))}
    assert statuses.get("closed", 0) >= 1 and statuses["open"] >= 9
    assert {"stereotactic_biopsy", "open_surgical_biopsy", "rad_path_concordance", "surgical_consultation",
            "followup_6_month", "followup_12_month", "ultrasound", "prior_film_request"} <= branches  # fmt: skip


def test_unreachable_database_is_one_line(workup):
    process = workup("overdue", env={"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    assert one_clear_line(process).startswith("error: database unavailable:")
    assert process.returncode == 7


def test_pathway_check_and_db_url(workup):
    assert workup("pathway", "check", "config/pathways/calcifications.yaml").returncode == 0
    url = workup("db", "url", env={"DATABASE_URL": "postgresql+psycopg://nav:secret@db.example:5432/workup"})
    assert url.stdout.strip() == "postgresql+psycopg://nav:***@db.example:5432/workup"
