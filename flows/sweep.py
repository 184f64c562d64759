"""The `sweep_overdue_steps` flow: set-based overdue alerts with escalation."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from flows.runtime import flow_now
from tracking.alerts.sweep import sweep_overdue
from tracking.db import session_scope
from tracking.logs import phi_safe


@flow(name="sweep_overdue_steps")
@phi_safe
def sweep_overdue_steps(now: datetime | None = None, full: bool = False) -> dict:
    """Raise, escalate and resolve overdue alerts as of `now`; one transaction. `full`: read every open
    step and alert, not only what changed since the last sweep (it also happens by itself, ADR 12)."""
    with session_scope() as session:
        report = sweep_overdue(session, flow_now(now), full=full).as_dict()
    get_run_logger().info("sweep: %s", report)
    return report
