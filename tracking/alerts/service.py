"""Read and acknowledge alerts. Acknowledgement and snooze always carry who and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.alerts.models import Alert
from tracking.alerts.stuck_work import CASE_ALERTS, unresolved_stuck_work
from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Step
from tracking.pathway.vocabulary import AlertStatus


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    step_kind: str | None  # None for alerts about a case (delivery_failed, run_stalled, case_stalled, letter_unsent)
    due_at: datetime | None
    headline: str

    def as_dict(self) -> dict:
        alert = self.alert
        return {
            "alert_id": alert.id,
            "kind": alert.kind,
            "headline": self.headline,
            "case_id": alert.case_id,
            "step_id": alert.step_id,
            "step": self.step_kind,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "notification_id": alert.notification_id,
            "case_run_id": alert.case_run_id,
            "letter_id": alert.letter_id,
            "level": alert.level,
            "status": alert.status,
            "raised_at": alert.raised_at.isoformat(),
            "escalated_at": alert.escalated_at.isoformat() if alert.escalated_at else None,
            "acknowledged_by": alert.acknowledged_by,
            "acknowledge_reason": alert.acknowledge_reason,
            "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        }


def list_alerts(
    session: Session, *, unresolved_only: bool = False, case_id: int | None = None, limit: int = 500
) -> list[AlertRow]:
    """Alerts, highest level and oldest first, each with a headline in words."""
    query = select(Alert, Step.kind, Step.due_at).join(Step, Step.id == Alert.step_id, isouter=True)
    if unresolved_only:
        query = query.where(Alert.status != AlertStatus.resolved)
    if case_id is not None:
        query = query.where(Alert.case_id == case_id)
    query = query.order_by(col(Alert.level).desc(), Alert.raised_at, Alert.id).limit(limit)
    found = session.exec(query).all()
    other = [alert.id for alert, kind, _ in found if kind is None]
    stuck = unresolved_stuck_work(session, kinds=CASE_ALERTS, alert_ids=other, limit=len(other)) if other else []
    headlines = {item.alert_id: item.headline for item in stuck}
    return [
        AlertRow(alert, kind, due_at, f"{words(kind)} overdue" if kind else headlines.get(alert.id, alert.kind))
        for alert, kind, due_at in found
    ]


def words(value: str) -> str:
    return value.replace("_", " ")


def acknowledge_alert(
    session: Session,
    alert_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
    snooze_until: datetime | None = None,
) -> Alert:
    """Acknowledge an alert (optionally snoozing escalation until a moment), recording who and why."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("acknowledging an alert needs a reason (at least 3 characters)")
    if snooze_until is not None and snooze_until <= now:
        raise InvalidInput("snooze-until must be in the future")
    alert = session.exec(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if alert.status == AlertStatus.resolved:
        raise InvalidInput(f"alert {alert_id} is already resolved: its cause is gone")
    alert.status = AlertStatus.acknowledged
    alert.acknowledged_by, alert.acknowledged_at, alert.acknowledge_reason = actor, now, reason[:500]
    alert.snoozed_until = snooze_until
    session.add(alert)
    audit(
        session,
        actor=actor,
        action="alert.snoozed" if snooze_until else "alert.acknowledged",
        at=now,
        case_id=alert.case_id,
        alert_id=alert.id,
        level=alert.level,
        reason=reason[:500],
        snooze_until=snooze_until.isoformat() if snooze_until else None,
    )
    session.flush()
    return alert
