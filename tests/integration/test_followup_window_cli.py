"""A follow-up's target date and window through the `workup` command: JSON, CSV and text.

The BI-RADS 3 case is played through the real services at fixed moments (tests/factories.py);
the commands look at it with `--now`, so nothing depends on today's date.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from tests.factories import (
    FOLLOWUP_CLOSES,
    FOLLOWUP_OPENED,
    FOLLOWUP_OPENS,
    FOLLOWUP_TARGET,
    FOLLOWUP_WINDOW,
    PUNCTATE_BIRADS_3,
    open_probably_benign_case,
    seed_opening,
)
from tracking.cases.opening import open_case
from tracking.cases.windows import WINDOW_FIELDS

WORKUP = str(Path(sys.executable).parent / "workup")


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test"}
        process = subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)
        assert process.returncode == 0, process.stderr
        return process

    return run


@pytest.fixture
def case_id(committed) -> int:
    with Session(committed) as session:
        opened = open_probably_benign_case(session)
        session.commit()
    return opened


def by_kind(steps: list[dict]) -> dict[str, dict]:
    return {step["kind"] if "kind" in step else step["step"]: step for step in steps}


def test_case_show_json_gives_the_follow_up_its_target_and_window(workup, case_id):
    steps = by_kind(json.loads(workup("case", "show", str(case_id), "--json").stdout)["steps"])

    followup = steps["followup_6_month"]
    assert followup["target_at"] == FOLLOWUP_TARGET  # 6 months after the BI-RADS 3 read
    assert followup["window_opens_at"] == FOLLOWUP_OPENS
    assert followup["window_closes_at"] == FOLLOWUP_CLOSES == followup["due_at"]  # 30 days after the target

    for kind in ("result_letter", "ultrasound"):  # no window: no target
        assert {name: steps[kind][name] for name in WINDOW_FIELDS} == dict.fromkeys(WINDOW_FIELDS), kind


def test_case_show_text_says_the_target_and_window_in_words(workup, case_id):
    lines = workup("case", "show", str(case_id)).stdout.splitlines()
    [followup] = [line for line in lines if "followup 6 month" in line]
    assert FOLLOWUP_WINDOW in followup
    [ultrasound] = [line for line in lines if "ultrasound" in line]  # no window: its due date, no target
    assert "2026-03-16" in ultrasound and "target" not in ultrasound


def test_overdue_lists_the_follow_up_only_after_its_window_closes(workup, case_id):
    def overdue(now: str) -> list[dict]:
        return json.loads(workup("overdue", "--json", "--step", "followup_6_month", "--now", now).stdout)

    assert overdue("2026-09-20T09:00:00Z") == []  # past the target, inside the window: not overdue
    assert overdue("2026-10-05T08:59:00Z") == []  # the window's last minute
    [row] = overdue("2026-10-06T09:00:00Z")
    assert (row["target_at"], row["window_opens_at"], row["window_closes_at"], row["due_at"]) == (
        FOLLOWUP_TARGET, FOLLOWUP_OPENS, FOLLOWUP_CLOSES, FOLLOWUP_CLOSES,
    )  # fmt: skip
    assert row["days_overdue"] == 1

    [exported] = csv.DictReader(io.StringIO(
        workup("overdue", "--csv", "--step", "followup_6_month", "--now", "2026-10-06T09:00:00Z").stdout
    ))  # fmt: skip
    assert (exported["target_at"], exported["window_opens_at"], exported["window_closes_at"]) == (
        FOLLOWUP_TARGET, FOLLOWUP_OPENS, FOLLOWUP_CLOSES,
    )  # fmt: skip
    assert FOLLOWUP_WINDOW in workup("overdue", "--step", "followup_6_month", "--now", "2026-10-06T09:00:00Z").stdout


def test_worklist_shows_the_window_for_the_follow_up_and_no_target_for_other_steps(workup, case_id):
    rows = json.loads(workup("worklist", "--json", "--days", "30", "--now", "2026-09-20T09:00:00Z").stdout)
    steps = by_kind(rows)
    assert steps["followup_6_month"]["target_at"] == FOLLOWUP_TARGET
    assert steps["followup_6_month"]["window_closes_at"] == FOLLOWUP_CLOSES
    assert steps["ultrasound"]["target_at"] is None and steps["ultrasound"]["window_opens_at"] is None

    text = workup("worklist", "--days", "30", "--now", "2026-09-20T09:00:00Z").stdout
    assert FOLLOWUP_WINDOW in text


def test_recording_the_read_names_the_new_follow_ups_window(workup, committed):
    with Session(committed) as session:
        opened = open_case(session, seed_opening(mrn="TEST-WINDOW-2"), actor="test", now=FOLLOWUP_OPENED).case_id
        session.commit()
    recorded = workup(
        "event", "record", str(opened), "magnification_result", "--data", json.dumps(PUNCTATE_BIRADS_3),
        "--occurred-at", "2026-03-05T09:00:00Z",
    ).stdout  # fmt: skip
    assert f"new step: followup 6 month, {FOLLOWUP_WINDOW}" in recorded
    assert "new step: result letter, due 2026-04-04" in recorded
