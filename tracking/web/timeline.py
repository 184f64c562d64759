"""One timeline for a case: events, alerts, notifications and flow runs, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tracking.pathway.definition import Pathway

DELIVERY_STATE = {"delivered": "sent", "pending": "waiting to send", "dead": "FAILED: not delivered"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event | alert | notification | flow run
    title: str
    detail: str = ""
    who: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def words(value: object) -> str:
    return str(value).replace("_", " ")


def case_timeline(history, runs, notifications, pathway: Pathway) -> list[Entry]:
    entries = [_event(event, pathway) for event in history.events]
    for alert in history.alerts:
        step = f"step {alert.step_id}" if alert.step_id else words(alert.kind)
        raised = "Overdue alert raised" if alert.kind == "overdue_step" else f"Alert raised: {words(alert.kind)}"
        entries.append(Entry(alert.raised_at, "alert", f"{raised} (level {alert.level})", step, "sweep"))
        if alert.escalated_at:
            entries.append(Entry(alert.escalated_at, "alert", f"Alert escalated to level {alert.level}", step, "sweep"))
        if alert.acknowledged_at:
            entries.append(
                Entry(
                    alert.acknowledged_at,
                    "alert",
                    "Alert acknowledged",
                    alert.acknowledge_reason or "",
                    alert.acknowledged_by or "",
                )  # fmt: skip
            )
        if alert.resolved_at:
            cause = "the step is done" if alert.kind == "overdue_step" else "its cause is gone"
            entries.append(Entry(alert.resolved_at, "alert", f"Alert resolved: {cause}", step, "sweep"))
    for note in notifications:
        title = f"{words(note.kind)} to {note.recipient} ({DELIVERY_STATE[note.status]})"
        entries.append(Entry(note.delivered_at or note.created_at, "notification", title, note.last_error or "",
                             note.channel))  # fmt: skip
    for run in runs:
        entries.append(
            Entry(
                run.finished_at or run.requested_at,
                "flow run",
                f"workup flow run ({run.status})",
                run.flow_run_id or run.last_error or "",
                "prefect",
            )  # fmt: skip
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _event(event, pathway: Pathway) -> Entry:
    rule = pathway.events.get(event.kind)
    title = rule.title if rule else words(event.kind)
    detail = ", ".join(f"{words(key)}: {words(value)}" for key, value in event.payload.items() if key != "facility_ids")
    return Entry(event.occurred_at, "event", title, detail, event.actor, tuple(event.outcome.get("warnings", [])))
