"""The `send_reminders` flow: chase prior films, remind before visits, advance missed appointments.

Each part of tracking/reminders/run.py (PARTS) runs as a task of its own, in its own transaction
with its own retries; the flow's report is the RemindersReport `workup reminders` prints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task

from flows.runtime import flow_now
from tracking.db import session_scope
from tracking.logs import phi_safe
from tracking.reminders.run import PARTS, RemindersReport


@task(retries=2, retry_delay_seconds=[5, 30])
@phi_safe
def reminders_part(part: str, now: datetime) -> Any:
    """One part of the reminders run as of `now`, committed on its own."""
    with session_scope() as session:
        return PARTS[part](session, now)


@flow(name="send_reminders")
@phi_safe
def send_reminders(now: datetime | None = None) -> dict:
    moment = flow_now(now)
    parts = {name: reminders_part.with_options(task_run_name=name)(name, moment) for name in PARTS}
    report = RemindersReport(**parts).as_dict()
    get_run_logger().info("reminders: %s", report)  # counts and case ids only
    return report
