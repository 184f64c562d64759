"""Deliver due outbox rows: one row per transaction, row lock held while sending.

A process that dies mid-send releases the lock with its connection, so the row is sent again by
the next run; nothing is lost. Receivers get a stable Message-ID / Idempotency-Key per row, so
the rare redelivery after a crash between "accepted" and "commit" can be recognised.

No row can block another: whatever goes wrong while one row is rendered or sent is recorded on
that row. A receiver that is away (SMTP server down, webhook timing out or answering 5xx) makes
the row wait and try again without counting toward the dead letter, and the rest of the pass
skips that receiver. A receiver that refuses (bad address, 4xx, 5xx SMTP reply) or a message that
cannot be built counts a failure; after WORKUP_DELIVERY_MAX_ATTEMPTS failures the row is
dead-lettered and the sweep raises a delivery_failed alert on its case. A refusal no retry can cure
(a letter whose PDF no longer matches its record, patient data with plain SMTP configured)
dead-letters the row at once. Only the database itself being away stops the pass, because then
nothing can be recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tracking.letters.delivery import LETTER_NOTIFICATION, deliver_letter
from tracking.logs import scrub
from tracking.notify.channels import DeliveryFailed, send_email, send_webhook
from tracking.notify.contacts import InvalidContact, validate_email, validate_webhook_url
from tracking.notify.models import Notification
from tracking.notify.render import render
from tracking.outages import is_outage
from tracking.pathway.vocabulary import NotificationStatus
from tracking.settings import Settings, get_settings

log = logging.getLogger(__name__)

OUTAGE_RETRY_MAX = timedelta(minutes=5)  # a receiver that comes back is used again within minutes


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0  # refused or failed; will be tried again
    waiting: int = 0  # the receiver was away; tried again later, not counted toward the dead letter
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "waiting": self.waiting, "dead": self.dead}


@dataclass
class _AwayThisPass:
    email: bool = False
    webhooks: set[str] = field(default_factory=set)


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Exponential: base, 2x base, 4x base ... capped."""
    seconds = settings.delivery_backoff_seconds * 2 ** min(max(0, attempts - 1), 30)
    return timedelta(seconds=min(seconds, settings.delivery_backoff_max_seconds))


def deliver_due(
    engine: Engine, now: datetime, *, limit: int = 500, case_id: int | None = None, settings: Settings | None = None
) -> DeliveryReport:
    """Send up to `limit` due notifications; each row is committed as soon as it is settled."""
    settings = settings or get_settings()
    report = DeliveryReport()
    away = _AwayThisPass()
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
            if away.email:
                query = query.where(Notification.channel != "email")
            if away.webhooks:
                query = query.where(col(Notification.recipient).not_in(sorted(away.webhooks)))
            notification = session.exec(query).first()
            if notification is None:
                break
            _attempt(session, notification, now, settings, report, away)
            session.commit()
    return report


def _attempt(
    session: Session,
    notification: Notification,
    now: datetime,
    settings: Settings,
    report: DeliveryReport,
    away: _AwayThisPass,
) -> None:
    notification.attempts += 1
    try:
        _check_address(notification)
        if notification.kind == LETTER_NOTIFICATION:  # a PDF letter: re-rendered, checked, marked sent
            deliver_letter(session, notification, now, settings)
        else:
            with session.begin_nested():
                message = render(session, notification)
            if notification.channel == "email":
                send_email(settings, notification.recipient, message, notification.dedupe_key)
            else:
                send_webhook(settings, notification.recipient, message, notification.dedupe_key)
    except DeliveryFailed as failure:
        _failed(notification, now, settings, report, away, str(failure), outage=failure.outage, final=failure.final)
    except Exception as error:
        if is_outage(error):
            raise  # the database is away: nothing can be recorded; the lock goes with the connection
        _failed(notification, now, settings, report, away, f"{type(error).__name__}: {error}", outage=False)
    else:
        notification.status = NotificationStatus.delivered
        notification.delivered_at = now
        notification.last_error = None
        report.delivered += 1
    session.add(notification)


def _check_address(notification: Notification) -> None:
    """Refuse an address that validation would refuse today (rows may predate it, or be edited by hand)."""
    try:
        if notification.channel == "email":
            validate_email(notification.recipient, require_dot=False, what="recipient")
        else:
            validate_webhook_url(notification.recipient)
    except InvalidContact as error:
        raise DeliveryFailed(str(error), outage=False) from None


def _failed(
    notification: Notification,
    now: datetime,
    settings: Settings,
    report: DeliveryReport,
    away: _AwayThisPass,
    reason: str,
    *,
    outage: bool,
    final: bool = False,
) -> None:
    notification.last_error = scrub(("receiver away: " if outage else "") + reason)[:1000]
    if outage:
        if notification.channel == "email":
            away.email = True
        else:
            away.webhooks.add(notification.recipient)
        notification.next_attempt_at = now + min(backoff(settings, notification.attempts), OUTAGE_RETRY_MAX)
        report.waiting += 1
        return
    notification.failures += 1
    if final or notification.failures >= settings.delivery_max_attempts:
        notification.status = NotificationStatus.dead
        report.dead += 1
        log.warning("notification %s (%s, case %s) dead-lettered", notification.id, notification.kind,
                    notification.case_id)  # fmt: skip
        return
    notification.next_attempt_at = now + backoff(settings, notification.failures)
    report.retrying += 1
