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
    assert again == {"resolved": 0, "reopened": 0, "raised": 0, "escalated": 0, "notifications": 0}
    alerts = json.loads(workup("alerts", "--open", "--json").stdout)
    assert [(alert["step"], alert["level"], alert["status"]) for alert in alerts] == [
        ("magnification_views", 1, "open")
    ]
    alert_id = str(alerts[0]["alert_id"])
    refused = workup("alert", "ack", alert_id, "--reason", " ")
    assert "needs a reason" in one_clear_line(refused)
    acked = workup("alert", "ack", alert_id, "--reason", "Booked for Monday", "--snooze-days", "3")
    assert acked.returncode == 0 and "acknowledged" in acked.stdout
    shown = json.loads(workup("alerts", "--json").stdout)[0]
    assert (shown["status"], shown["acknowledged_by"], shown["acknowledge_reason"]) == (
        "acknowledged",
        "ops:cli-test",
        "Booked for Monday",
    )
    outbox = json.loads(workup("outbox", "--json").stdout)
    assert [(row["kind"], row["recipient"], row["status"]) for row in outbox] == [
        ("overdue_alert", "nav@center.test", "pending")
    ]
    assert json.loads(workup("outbox", "--failed", "--json").stdout) == []
    assert "Maren" not in workup("outbox").stdout
    missing = workup("alert", "ack", "999999", "--reason", "nobody")
    assert "alert 999999 does not exist" in one_clear_line(missing)


def _plus_days(moment: str, days: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(moment) + timedelta(days=days)).isoformat()
