"""The `deliver_notifications` flow: send what the outbox holds, with backoff and dead-lettering."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from flows.runtime import flow_now
from tracking.db import get_engine
from tracking.logs import phi_safe
from tracking.notify.delivery import deliver_due


@flow(name="deliver_notifications")
@phi_safe
def deliver_notifications(now: datetime | None = None, limit: int = 500) -> dict:
    report = deliver_due(get_engine(), flow_now(now), limit=limit).as_dict()
    get_run_logger().info("delivery: %s", report)
    return report
