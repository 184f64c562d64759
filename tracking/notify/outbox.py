"""Write notifications into the outbox, in the transaction that decided them. Dedupe keys make it idempotent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from tracking.notify.models import Notification
from tracking.notify.recipients import Recipient


def enqueue(
    session: Session,
    *,
    kind: str,
    recipients: list[Recipient],
    dedupe_key: str,
    now: datetime,
    case_id: int | None = None,
    step_id: int | None = None,
    alert_id: int | None = None,
    facility_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue one message per recipient; a key already queued is skipped. Returns how many were new."""
    if not recipients:
        return 0
    rows = [
        {
            "kind": kind,
            "channel": recipient.channel,
            "recipient": recipient.address,
            "case_id": case_id,
            "step_id": step_id,
            "alert_id": alert_id,
            "facility_id": facility_id,
            "payload": payload or {},
            "dedupe_key": f"{dedupe_key}|{recipient.channel}:{recipient.address}",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for recipient in recipients
    ]
    statement = insert(Notification).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return len(session.execute(statement.returning(Notification.id)).all())
