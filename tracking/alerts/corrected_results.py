"""The alert a corrected result raises: the RIS changed a result after the final one was recorded
on a case (HL7 ORU^R01 with result status C). The corrected result itself waits in the HL7 inbox;
the alert resolves when a person confirms or dismisses that item (tracking/hl7/inbox.py).
Navigators are told once, like every other alert about a case (payload: ids only)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from tracking.alerts.models import Alert
from tracking.notify import recipients
from tracking.notify.outbox import enqueue
from tracking.pathway.vocabulary import AlertKind, AlertStatus


def raise_corrected_result_alert(session: Session, case_id: int, *, now: datetime) -> int:
    """A level-1 alert on the case, and one notice to the navigators; returns the alert's id."""
    alert = Alert(kind=AlertKind.corrected_result, case_id=case_id, level=1, status=AlertStatus.open, raised_at=now)
    session.add(alert)
    session.flush()
    enqueue(
        session,
        kind=f"{AlertKind.corrected_result}_alert",
        recipients=recipients.navigators(),
        dedupe_key=f"alert:{alert.id}:raised",
        now=now,
        case_id=case_id,
        alert_id=alert.id,
    )
    return int(alert.id)


def resolve_alert(session: Session, alert_id: int, *, now: datetime) -> None:
    """Resolve the alert (its cause was dealt with); an alert already resolved stays as it is."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is not None and alert.status != AlertStatus.resolved:
        alert.status, alert.resolved_at = AlertStatus.resolved, now
        session.add(alert)
        session.flush()
