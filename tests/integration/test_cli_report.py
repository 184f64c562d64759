"""`workup report outcomes` as a real process: the hand-worked figures as JSON, the CSV file, the table,
the audit row; bad dates refused with one line and exit 2, writing nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess

import pytest
from sqlalchemy import text

from tests.integration.test_cli import WORKUP, one_clear_line
from tests.outcomes_support import (
    AWAITING,
    EXPECTED_COUNTS,
    EXPECTED_PPV2,
    EXPECTED_PPV3,
    PERIOD,
    ZONE,
    commit_known_outcomes,
)


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test",
                       "WORKUP_TIMEZONE": ZONE}  # fmt: skip
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


@pytest.fixture
def known(committed, configure) -> dict[str, int]:
    configure(WORKUP_TIMEZONE=ZONE)
    return commit_known_outcomes(committed)


def audit_rows(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'outcomes.reported' ORDER BY id")
        ).all()


def test_json_holds_the_hand_worked_figures_and_is_audited(workup, known, committed):
    shown = workup("report", "outcomes", "--from", PERIOD[0], "--to", PERIOD[1], "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["period"] == {"from": PERIOD[0], "to": PERIOD[1], "timezone": ZONE,
                                  "label": f"{PERIOD[0]} to {PERIOD[1]}"}  # fmt: skip
    groups = {group["radiologist"]: group for group in document["radiologists"]} | {"centre": document["centre"]}
    for key, counts in EXPECTED_COUNTS.items():
        assert {name: groups[key][name] for name in counts} == counts, key
        for rate, expected in (("ppv2", EXPECTED_PPV2[key]), ("ppv3", EXPECTED_PPV3[key])):
            found = groups[key][rate]
            assert (found["numerator"], found["denominator"], found["percent"], found["verdict"],
                    found["awaiting_pathology_in_denominator"]) == expected  # fmt: skip
            assert found["fraction"] == round(expected[0] / expected[1], 4)
    assert document["benchmarks"]["ppv2"]["low"] == 0.15 and document["benchmarks"]["ppv3"]["range"] == "20–45%"
    assert "Carney" in document["benchmarks"]["ppv3"]["source"]
    assert document["awaiting_pathology_case_ids"] == sorted(known[name] for name in AWAITING)
    assert {item["figure"] for item in document["not_available"]} >= {"abnormal_interpretation_rate",
                                                                       "cancer_detection_rate"}  # fmt: skip
    assert "OUTCOMES-" not in shown.stdout and "Testcase" not in shown.stdout
    assert audit_rows(committed) == [("ops:cli-test", {"from": PERIOD[0], "to": PERIOD[1], "cases_audited": 14,
                                                        "case_ids": document["awaiting_pathology_case_ids"]})]  # fmt: skip


def test_csv_file_and_the_table(workup, known, tmp_path):
    path = tmp_path / "audit.csv"
    shown = workup("report", "outcomes", "--from", PERIOD[0], "--to", PERIOD[1], "--csv", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "MQSA medical outcomes audit: 2026-01-01 to 2026-03-31 (America/New_York)" in shown.stdout
    assert "Ann Radiologist" in shown.stdout and "not recorded" in shown.stdout and "above range" in shown.stdout
    assert "Awaiting pathology (4)" in shown.stdout and "Abnormal interpretation rate" in shown.stdout
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(row["group"], row["radiologist"]) for row in rows] == [
        ("radiologist", "rad-a"), ("radiologist", "rad-b"), ("radiologist", ""), ("centre", "")]  # fmt: skip
    centre = rows[-1]
    assert (centre["recalls_worked_up"], centre["cancers"], centre["ppv2_percent"], centre["ppv2_verdict"]) == (
        "14", "4", "33.3", "in range")  # fmt: skip
    assert centre["awaiting_pathology_case_ids"].split() == [str(case) for case in sorted(known[n] for n in AWAITING)]


def test_without_a_period_every_case_counts(workup, known):
    shown = workup("report", "outcomes", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["period"]["from"] is None and document["centre"]["recalls_worked_up"] == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "error: --from '2026-02-30' is not a date"),
        (["--from", "2026-04-01", "--to", "2026-03-31"], "error: --to 2026-03-31 is before --from 2026-04-01"),
        (["--to", "March"], "error: --to 'March' is not a date"),
    ],
)
def test_bad_dates_are_one_line_exit_2_and_write_nothing(workup, committed, args, message, tmp_path):
    path = tmp_path / "audit.csv"
    refused = workup("report", "outcomes", *args, "--csv", str(path))
    assert refused.returncode == 2
    assert one_clear_line(refused).startswith(message)
    assert not path.exists() and audit_rows(committed) == []
