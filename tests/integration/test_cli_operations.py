"""Operations from the command line: sweep, alerts, alert ack, outbox."""

from __future__ import annotations

import json

from tests.integration.test_cli import SEED_FLAGS, one_clear_line, workup  # noqa: F401 - fixture


def test_sweep_alerts_ack_and_outbox(workup):  # noqa: F811
    opened = json.loads(workup("case", "open", *SEED_FLAGS, "--json").stdout)
    opened_at = opened["case"]["opened_at"]
    env = {"WORKUP_NAVIGATOR_EMAIL": "nav@center.test"}
    first = workup("sweep", "--now", _plus_days(opened_at, 8), "--allow-future", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["raised"] == 1
    again = json.loads(workup("sweep", "--now", _plus_days(opened_at, 8), "--allow-future", "--json", env=env).stdout)
    assert set(again) >= {"resolved", "reopened", "raised", "escalated", "notifications"}
    assert set(again.values()) == {0}
    full = workup("sweep", "--now", _plus_days(opened_at, 8), "--allow-future", "--full", "--json", env=env)
    assert json.loads(full.stdout) == {**again, "full_pass": 1}  # read everything, found the same: nothing to do
    alerts = json.loads(workup("alerts", "--open", "--json").stdout)
    assert [
        (alert["step"], alert["level"], alert["status"]) for alert in alerts if alert["kind"] == "overdue_step"
    ] == [("magnification_views", 1, "open")]
    # no runner ran in those eight days: the case's run request is stalled, and says so
    assert [alert["headline"] for alert in alerts if alert["kind"] == "run_stalled"] == [
        f"Outside work for this case has waited to run since {opened_at[:10]} {opened_at[11:16]} UTC"
    ]
    alert_id = str(next(alert["alert_id"] for alert in alerts if alert["kind"] == "overdue_step"))
    refused = workup("alert", "ack", alert_id, "--reason", " ")
    assert "needs a reason" in one_clear_line(refused)
    acked = workup("alert", "ack", alert_id, "--reason", "Booked for Monday", "--snooze-days", "3")
    assert acked.returncode == 0 and "acknowledged" in acked.stdout
    shown = next(row for row in json.loads(workup("alerts", "--json").stdout) if str(row["alert_id"]) == alert_id)
    assert (shown["status"], shown["acknowledged_by"], shown["acknowledge_reason"]) == (
        "acknowledged",
        "ops:cli-test",
        "Booked for Monday",
    )
    outbox = json.loads(workup("outbox", "--json").stdout)
    to_navigators = [(row["kind"], row["status"]) for row in outbox if row["recipient"] == "nav@center.test"]
    # nothing was delivered in those eight days either: each facility's film request never left
    assert sorted(to_navigators) == [("delivery_failed_alert", "pending")] * 2 + [
        ("overdue_alert", "pending"),
        ("run_stalled_alert", "pending"),
    ]
    waiting = [alert["headline"] for alert in alerts if alert["kind"] == "delivery_failed"]
    assert len(waiting) == 2 and all("has not received the prior film request yet" in text for text in waiting)
    assert json.loads(workup("outbox", "--failed", "--json").stdout) == []
    assert "Maren" not in workup("outbox").stdout
    missing = workup("alert", "ack", "999999", "--reason", "nobody")
    assert "alert 999999 does not exist" in one_clear_line(missing)


def _plus_days(moment: str, days: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(moment) + timedelta(days=days)).isoformat()
