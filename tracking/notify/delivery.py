"""Deliver due outbox rows: one row per transaction, row lock held while sending.

A process that dies mid-send releases the lock with its connection, so the row is sent again by
the next run; nothing is lost. Receivers get a stable Message-ID / Idempotency-Key per row, so
the rare redelivery after a crash between "accepted" and "commit" can be recognised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from tracking.notify.channels import DeliveryFailed, send_email, send_webhook
from tracking.notify.models import Notification
from tracking.notify.render import render
from tracking.pathway.vocabulary import NotificationStatus
from tracking.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "dead": self.dead}


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Exponential: base, 2x base, 4x base ... capped."""
    seconds = settings.delivery_backoff_seconds * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.delivery_backoff_max_seconds))


def deliver_due(
    engine: Engine, now: datetime, *, limit: int = 500, case_id: int | None = None, settings: Settings | None = None
) -> DeliveryReport:
    """Send up to `limit` due notifications; each row is committed as soon as it is settled."""
    settings = settings or get_settings()
    report = DeliveryReport()
    for _ in range(limit):
        with Session(engine, expire_on_commit=False) as session:
            query = (
                select(Notification)
                .where(Notification.status == NotificationStatus.pending, Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if case_id is not None:
                query = query.where(Notification.case_id == case_id)
            notification = session.exec(query).first()
            if notification is None:
                break
            _attempt(session, notification, now, settings, report)
            session.commit()
    return report


def _attempt(
    session: Session, notification: Notification, now: datetime, settings: Settings, report: DeliveryReport
) -> None:
    notification.attempts += 1
    try:
        message = render(session, notification)
        if notification.channel == "email":
            send_email(settings, notification.recipient, message, notification.dedupe_key)
        else:
            send_webhook(settings, notification.recipient, message, notification.dedupe_key)
    except DeliveryFailed as failure:
        notification.last_error = str(failure)[:1000]
        if notification.attempts >= settings.delivery_max_attempts:
            notification.status = NotificationStatus.dead
            report.dead += 1
            log.warning("notification %s (%s, case %s) dead-lettered", notification.id, notification.kind,
                        notification.case_id)  # fmt: skip
        else:
            notification.next_attempt_at = now + backoff(settings, notification.attempts)
            report.retrying += 1
        session.add(notification)
        return
    notification.status = NotificationStatus.delivered
    notification.delivered_at = now
    notification.last_error = None
    session.add(notification)
    report.delivered += 1
