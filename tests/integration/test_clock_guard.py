"""Sane clocks: a --now more than a day past the wall clock is refused unless --allow-future (issue 8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.factories import SUSPICIOUS_MAG
from tests.integration import test_cli
from tests.integration.test_cli import count, one_clear_line, open_seed
from tracking.cases.errors import InvalidInput
from tracking.clock import MAX_AHEAD, moment_or_now

workup = test_cli.workup  # the `workup` fixture: run the real command against the test database

FAR = "9999-12-31T00:00:00+00:00"
REFUSAL = f"error: --now {FAR} is more than a day in the future; pass --allow-future for simulations"


def alerts_snapshot(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT * FROM alerts ORDER BY id"))]


def soon(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def test_the_rule():
    wall = datetime.now(UTC)
    assert moment_or_now(None) >= wall
    assert moment_or_now((wall + MAX_AHEAD - timedelta(minutes=5)).isoformat()) > wall
    assert moment_or_now("2020-01-01T00:00:00") == datetime(2020, 1, 1, tzinfo=UTC)  # no zone: UTC
    assert moment_or_now("2020-01-01T01:00:00+01:00") == datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="more than a day in the future"):
        moment_or_now((wall + MAX_AHEAD + timedelta(minutes=5)).isoformat())
    with pytest.raises(InvalidInput, match=r"^--occurred-at 9999-12-31 is more than a day"):
        moment_or_now("9999-12-31", option="--occurred-at")
    with pytest.raises(InvalidInput, match="more than a day"):
        moment_or_now(wall + timedelta(days=2))
    assert moment_or_now(FAR, allow_future=True).year == 9999
    with pytest.raises(InvalidInput, match="must be an ISO 8601 date-time"):
        moment_or_now("next tuesday")


def test_sweep_far_in_the_future_is_refused_and_changes_no_alert(workup, committed):
    loaded = workup("demo", "--force")  # --force: DATABASE_URL names the test database, not the embedded one
    assert loaded.returncode == 0, loaded.stderr
    assert workup("sweep").returncode == 0
    before = alerts_snapshot(committed)
    assert before, "the demo has overdue steps, so the sweep raised alerts"
    notifications = count(committed, "notifications")
    refused = workup("sweep", "--now", FAR)
    assert refused.returncode == 2
    assert one_clear_line(refused) == REFUSAL
    assert alerts_snapshot(committed) == before
    assert count(committed, "notifications") == notifications
    simulated = workup("sweep", "--now", FAR, "--allow-future", "--json")
    assert simulated.returncode == 0, simulated.stderr
    assert alerts_snapshot(committed) != before


def test_a_moment_within_a_day_needs_no_flag(workup, committed):
    open_seed(workup)
    assert workup("sweep", "--now", soon(hours=20)).returncode == 0
    assert workup("overdue", "--now", soon(hours=23), "--json").returncode == 0
    assert workup("sweep", "--now", "2020-01-01T00:00:00+00:00").returncode == 0  # the past is not refused


@pytest.mark.parametrize("command", [["overdue", "--json"], ["worklist", "--json"], ["overdue", "--csv"]])
def test_lists_refuse_a_far_future_now_unless_allowed(workup, committed, command):
    open_seed(workup)
    audit = count(committed, "audit_log")
    refused = workup(*command, "--now", soon(days=2))
    assert refused.returncode == 2
    assert one_clear_line(refused).endswith("is more than a day in the future; pass --allow-future for simulations")
    assert count(committed, "audit_log") == audit
    allowed = workup(*command, "--now", soon(days=400), "--allow-future")
    assert allowed.returncode == 0, allowed.stderr


def test_alert_ack_refuses_a_far_future_now(workup, committed):
    open_seed(workup)
    with committed.connect() as connection:
        connection.execute(text("UPDATE steps SET due_at = now() - interval '3 days' WHERE kind = 'ultrasound'"))
        connection.commit()
    assert workup("sweep").returncode == 0
    alert_id = json.loads(workup("alerts", "--open", "--json").stdout)[0]["alert_id"]
    before = alerts_snapshot(committed)
    refused = workup("alert", "ack", str(alert_id), "--reason", "Booked", "--now", soon(days=3))
    assert refused.returncode == 2 and "more than a day in the future" in one_clear_line(refused)
    assert alerts_snapshot(committed) == before
    allowed = workup("alert", "ack", str(alert_id), "--reason", "Booked", "--now", soon(days=3), "--allow-future")
    assert allowed.returncode == 0, allowed.stderr


def test_an_event_dated_in_the_future_is_refused_by_the_pathway(workup, committed):
    """--occurred-at needs no --allow-future: the engine refuses any event dated past now (exit 4)."""
    case_id = open_seed(workup)["case_id"]
    events = count(committed, "case_events")
    refused = workup("event", "record", str(case_id), "magnification_result", "--data", json.dumps(SUSPICIOUS_MAG),
                     "--occurred-at", soon(hours=2))  # fmt: skip
    assert refused.returncode == 4 and "in the future" in one_clear_line(refused)
    assert count(committed, "case_events") == events
