"""`workup screening`: the recall list from the real command, ids only, audited; bad filters refused."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.flows.test_screening_after_closure import closed_case
from tests.integration.test_cli import WORKUP, one_clear_line
from tracking.alerts.sweep import sweep_overdue

KEYS = {"case_id", "step_id", "step", "laterality", "due_at", "target_at", "window_opens_at", "window_closes_at",
        "overdue", "days_overdue", "alert_level", "case_closed_at", "navigator"}  # fmt: skip


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test"}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


@pytest.fixture
def recall(committed) -> dict:
    """Two closed cases: one's screening 10 days overdue (and swept), the other's due in 50 days."""
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(committed, expire_on_commit=False) as session:
        overdue, overdue_step = closed_case(session, now - timedelta(days=410), mrn="CLI-SCREEN-1")
        soon, soon_step = closed_case(session, now - timedelta(days=350), mrn="CLI-SCREEN-2")
        session.commit()
    moment = overdue_step.due_at + timedelta(days=10)
    with Session(committed) as session:
        sweep_overdue(session, moment)
        session.commit()
    return {"now": moment, "overdue": (overdue, overdue_step.id), "soon": (soon, soon_step.id)}


def test_json_lists_ids_only_earliest_due_first_and_is_audited(workup, recall, committed):
    shown = workup("screening", "--json", "--now", recall["now"].isoformat())
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [(row["case_id"], row["step_id"]) for row in rows] == [recall["overdue"], recall["soon"]]
    assert all(set(row) == KEYS for row in rows)
    assert (rows[0]["overdue"], rows[0]["days_overdue"], rows[0]["alert_level"], rows[0]["step"]) == (
        True,
        10,
        2,
        "annual_screening",
    )
    assert (rows[1]["overdue"], rows[1]["days_overdue"], rows[1]["alert_level"]) == (False, 0, None)
    assert rows[0]["window_closes_at"] == rows[0]["due_at"] and rows[0]["target_at"] < rows[0]["due_at"]
    assert "CLI-SCREEN" not in shown.stdout and "Maren" not in shown.stdout  # the page names patients, not the CLI
    with committed.connect() as connection:
        audit = connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'screening.listed' ORDER BY id")
        ).all()
    assert [(actor, detail["case_ids"]) for actor, detail in audit] == [
        ("ops:cli-test", sorted([recall["overdue"][0], recall["soon"][0]]))
    ]


def test_filters_and_the_table(workup, recall):
    moment = recall["now"].isoformat()
    overdue = workup("screening", "--overdue", "--json", "--now", moment)
    assert [row["case_id"] for row in json.loads(overdue.stdout)] == [recall["overdue"][0]]
    within = workup("screening", "--due-within", "30", "--json", "--now", moment)
    assert [row["case_id"] for row in json.loads(within.stdout)] == [recall["overdue"][0]]
    later = workup("screening", "--due-within", "60", "--json", "--now", moment)
    assert [row["case_id"] for row in json.loads(later.stdout)] == [recall["overdue"][0], recall["soon"][0]]
    grid = workup("screening", "--now", moment)
    assert grid.returncode == 0, grid.stderr
    assert "Screening recall list" in grid.stdout and "OVERDUE 10 days" in grid.stdout and "level 2" in grid.stdout
    assert "(window " in grid.stdout  # the shared window wording (tracking/cases/windows.py)
    assert "CLI-SCREEN" not in grid.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--due-within", "-1"], "--due-within"),
        (["--due-within", "abc"], "--due-within"),
        (["--due-within", "99999"], "--due-within"),
        (["--overdue", "--due-within", "7"], "not both"),
        (["--now", "tomorrow"], "--now"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(workup, committed, args, says):
    refused = workup("screening", *args)
    assert refused.returncode == 2
    line = one_clear_line(refused)
    assert line.startswith("error: ") and says in line
    with committed.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0
