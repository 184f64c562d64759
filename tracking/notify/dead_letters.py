"""Dead-lettered notifications: put them back in the queue once the cause is fixed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from tracking.audit import audit
from tracking.given_up import given_up_rows
from tracking.notify.models import Notification
from tracking.pathway.vocabulary import NotificationStatus


def retry_dead_notifications(
    session: Session, *, actor: str, now: datetime, notification_id: int | None = None, all_dead: bool = False
) -> list[int]:
    """Send dead-lettered notifications again (one by id, or all); returns their ids.

    Their failure count starts again; the delivery_failed alert resolves once one is delivered.
    """
    rows = given_up_rows(
        session, Notification, given_up=NotificationStatus.dead, item_id=notification_id, everything=all_dead,
        noun="notification",
    )  # fmt: skip
    for row in rows:
        row.status, row.failures, row.next_attempt_at = NotificationStatus.pending, 0, now
        session.add(row)
        audit(session, actor=actor, action="notification.retried", at=now, case_id=row.case_id, notification_id=row.id)
    session.flush()
    return [row.id for row in rows]
