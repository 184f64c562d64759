"""Dead-lettered notifications: put them back in the queue once the cause is fixed."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.notify.models import Notification
from tracking.pathway.vocabulary import NotificationStatus


def retry_dead_notifications(
    session: Session, *, actor: str, now: datetime, notification_id: int | None = None, all_dead: bool = False
) -> list[int]:
    """Send dead-lettered notifications again (one by id, or all); returns their ids.

    Their failure count starts again; the delivery_failed alert resolves once one is delivered.
    """
    if notification_id is not None and all_dead:
        raise InvalidInput("give a notification id or --all-failed, not both")
    if notification_id is None and not all_dead:
        raise InvalidInput("give the id of a dead-lettered notification, or --all-failed")
    query = select(Notification).where(Notification.status == NotificationStatus.dead).with_for_update()
    if notification_id is not None:
        found = session.get(Notification, notification_id)
        if found is None:
            raise NotFound(f"notification {notification_id} does not exist")
        if found.status != NotificationStatus.dead:
            raise InvalidInput(f"notification {notification_id} is {found.status}, not dead-lettered")
        query = query.where(Notification.id == notification_id)
    rows = list(session.exec(query.order_by(Notification.id)))
    for row in rows:
        row.status, row.failures, row.next_attempt_at = NotificationStatus.pending, 0, now
        session.add(row)
        audit(session, actor=actor, action="notification.retried", at=now, case_id=row.case_id, notification_id=row.id)
    session.flush()
    return [row.id for row in rows]
