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
def sweep_overdue_steps(now: datetime | None = None) -> dict:
    """Raise, escalate and resolve overdue alerts as of `now`; one transaction."""
    with session_scope() as session:
        report = sweep_overdue(session, flow_now(now)).as_dict()
    get_run_logger().info("sweep: %s", report)
    return report
