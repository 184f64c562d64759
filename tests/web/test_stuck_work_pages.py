"""Stuck outside work is visible where people look: the worklist, the case page, the operations page,
the alerts API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from tests.factories import seed_opening
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import FacilityRef, open_case

WORKUP = str(Path(sys.executable).parent / "workup")


def stuck_case(engine) -> tuple[int, int]:
    """A case whose film request to Northside was dead-lettered and whose run request failed; swept."""
    now = datetime.now(UTC)
    facility = FacilityRef(name="Northside Imaging", channel="email", contact="films@northside.test")
    with Session(engine) as session:
        case_id = open_case(session, seed_opening(facilities=[facility]), actor="test", now=now).case_id
        session.commit()
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE notifications SET status = 'dead', attempts = 8, failures = 8, "
                "last_error = 'SMTP: recipient refused (550)' WHERE kind = 'prior_film_request'"
            )
        )
        connection.execute(
            text("UPDATE case_runs SET status = 'failed', attempts = 5, failures = 5, finished_at = now()")
        )
        run_id = connection.execute(text("SELECT id FROM case_runs")).scalar_one()
    with Session(engine) as session:
        report = sweep_overdue(session, now + timedelta(minutes=1))
        session.commit()
    assert (report.delivery_failed, report.runs_stalled) == (1, 1)
    return case_id, run_id


def test_worklist_case_page_and_ops_page_show_stuck_work(committed, browser_for):
    case_id, run_id = stuck_case(committed)
    navigator = browser_for("navigator")
    worklist = navigator.get("/worklist")
    assert worklist.status_code == 200
    assert 'data-testid="stuck-work"' in worklist.text
    assert "Northside Imaging never received the prior film request" in worklist.text
    assert "Outside work for this case failed to run" in worklist.text
    assert f'href="/cases/{case_id}"' in worklist.text
    case_page = navigator.get(f"/cases/{case_id}")
    assert case_page.status_code == 200
    assert 'data-alert-kind="delivery_failed">Northside Imaging never received the prior film request' in case_page.text
    assert 'data-alert-kind="run_stalled"' in case_page.text
    ops = browser_for("ops").get("/ops")
    assert ops.status_code == 200
    section = ops.text.split('data-testid="stuck-runs"')[1].split("</section>")[0]
    assert f"<td>{run_id}</td>" in section and "FAILED" in section and "1 undelivered notification" in section
    assert "Maren" not in section and "TEST-SEED-1" not in section  # case ids only on the operations page


def test_acknowledging_a_stuck_work_alert_from_the_case_page(committed, browser_for):
    case_id, _ = stuck_case(committed)
    with committed.connect() as connection:
        alert_id = connection.execute(text("SELECT id FROM alerts WHERE kind = 'delivery_failed'")).scalar_one()
    navigator = browser_for("navigator")
    answer = navigator.post_form(f"/alerts/{alert_id}/ack", {"reason": "Phoned Northside, films on the way"})
    assert answer.status_code in (200, 303)
    with committed.connect() as connection:
        status = connection.execute(text("SELECT status FROM alerts WHERE id = :id"), {"id": alert_id}).scalar_one()
    assert status == "acknowledged"
    assert "acknowledged" in navigator.get("/worklist").text


def test_alerts_api_and_cli_name_every_kind(committed, api_for):
    case_id, _ = stuck_case(committed)
    answer = api_for("ops").get("/api/alerts", params={"open": "true"})
    assert answer.status_code == 200
    by_kind = {row["kind"]: row for row in answer.json()}
    assert by_kind["delivery_failed"]["headline"] == "Northside Imaging never received the prior film request"
    assert by_kind["delivery_failed"]["step"] is None and by_kind["delivery_failed"]["case_id"] == case_id
    assert by_kind["run_stalled"]["case_run_id"] is not None
    url = committed.url.render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url}
    shown = subprocess.run([WORKUP, "alerts", "--open", "--json"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert {row["kind"] for row in json.loads(shown.stdout)} == {"delivery_failed", "run_stalled"}
    runs = subprocess.run([WORKUP, "runs", "--failed", "--json"], env=env, capture_output=True, text=True)
    assert runs.returncode == 0, runs.stderr
    assert [row["case_id"] for row in json.loads(runs.stdout)] == [case_id]
    dead = subprocess.run([WORKUP, "outbox", "--failed", "--json"], env=env, capture_output=True, text=True)
    assert [row["kind"] for row in json.loads(dead.stdout)] == ["prior_film_request"]
