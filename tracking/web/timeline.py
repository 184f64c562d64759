"""One timeline for people: what happened to the case and who did it, newest first, in words.

Clinical events, contact attempts, alerts, notes, tasks and letters (produced, printed again,
sent, each with a link to its PDF) make the timeline a navigator reads.
What the machinery did (workup flow runs and their ids, message deliveries and their errors) is
a separate list of system entries, shown only when asked for: never mixed in by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracking.alerts.models import Alert
from tracking.cases.models import CaseEvent
from tracking.cases.queries import CaseHistory
from tracking.centre_time import shown_moment
from tracking.letters.kinds import channel_words, kind_words, language_words
from tracking.letters.models import Letter
from tracking.letters.queries import Reprinted
from tracking.pathway.definition import Pathway
from tracking.pathway.fields import FieldRefused, parse_moment
from tracking.web.presenters import words

DELIVERY_STATE = {"delivered": "sent", "pending": "waiting to send", "dead": "FAILED: not delivered"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # event | contact | note | task | alert | notification | flow run
    title: str
    detail: str = ""
    who: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    link: str = ""  # a letter's PDF


def case_timeline(history: CaseHistory, pathway: Pathway, *, notes: Iterable[Any] = (), tasks: Iterable[Any] = (),
                  facilities: dict[int, str] | None = None, letters: Iterable[Letter] = (),
                  reprints: Iterable[Reprinted] = ()) -> list[Entry]:  # fmt: skip
    """The people's timeline: events, contact attempts, alerts, notes, tasks and letters, newest first."""
    entries = [_event(event, pathway, facilities or {}) for event in history.events]
    entries += _alerts(history.alerts, {step.id: step.kind for step in history.steps if step.id}, pathway)
    entries += [Entry(note.created_at, "note", "Note", note.body, note.author) for note in notes]
    for task in tasks:
        entries.append(Entry(task.created_at, "task", f"Task added: {task.title}",
                             f"due {shown_moment(task.due_at)}", task.created_by))  # fmt: skip
        if task.closed_at is not None:
            verb = "done" if task.status == "done" else "cancelled"
            entries.append(Entry(task.closed_at, "task", f"Task {verb}: {task.title}", "", task.closed_by or ""))
    entries += _letters(list(letters), reprints)
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _letters(letters: list[Letter], reprints: Iterable[Reprinted]) -> list[Entry]:
    """Each letter produced and sent, and each time one was printed again, with a link to its PDF."""
    entries = []
    for letter in letters:
        what = f"{kind_words(letter.kind)} (to the {words(letter.recipient_kind)}, by {channel_words(letter.channel)})"
        link = f"/letters/{letter.id}.pdf"
        made = f"letter {letter.id}, {language_words(letter.language)}"
        entries.append(Entry(letter.produced_at, "letter", f"Letter produced: {what}", made, letter.produced_by,
                             link=link))  # fmt: skip
        if letter.sent_at is not None:
            entries.append(Entry(letter.sent_at, "letter", f"Letter sent: {what}", _sent_detail(letter),
                                 letter.sent_by or "", link=link))  # fmt: skip
    kinds = {letter.id: kind_words(letter.kind) for letter in letters}
    for copy in reprints:
        same = "the same as the letter recorded" if copy.same_as_recorded else "DIFFERS from the letter recorded"
        title = f"Letter printed again: {kinds.get(copy.letter_id, 'letter')}"
        entries.append(Entry(copy.at, "letter", title, f"letter {copy.letter_id}, {same}", copy.actor,
                             link=f"/letters/{copy.letter_id}.pdf"))  # fmt: skip
    return entries


def _sent_detail(letter: Letter) -> str:
    parts = [f"letter {letter.id}"]
    if letter.sent_density:
        parts.append(f"density statement: {words(letter.sent_density)}")
    elif letter.kind == "result":
        parts.append("no density statement")
    if letter.sent_event_id:
        parts.append("result-letter step completed")
    return ", ".join(parts)


def system_timeline(runs: Iterable[Any], notifications: Iterable[Any]) -> list[Entry]:
    """What the machinery did: workup flow runs and message deliveries with their errors, newest first."""
    entries = []
    for note in notifications:
        title = f"{words(note.kind)} to {note.recipient} ({DELIVERY_STATE.get(note.status, note.status)})"
        entries.append(Entry(note.delivered_at or note.created_at, "notification", title, note.last_error or "",
                             note.channel))  # fmt: skip
    for run in runs:
        entries.append(Entry(run.finished_at or run.requested_at, "flow run", f"workup flow run ({run.status})",
                             run.flow_run_id or run.last_error or "", "prefect"))  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _alerts(alerts: Iterable[Alert], step_kinds: dict[int, str], pathway: Pathway) -> list[Entry]:
    entries = []
    for alert in alerts:
        kind = step_kinds.get(alert.step_id) if alert.step_id else None
        about = pathway.steps[kind].title if kind in pathway.steps else words(alert.kind)
        raised = "Overdue alert raised" if alert.kind == "overdue_step" else f"Alert raised: {words(alert.kind)}"
        entries.append(Entry(alert.raised_at, "alert", f"{raised} (level {alert.level})", about, "sweep"))
        if alert.escalated_at:
            entries.append(Entry(alert.escalated_at, "alert", f"Alert escalated to level {alert.level}", about,
                                 "sweep"))  # fmt: skip
        if alert.acknowledged_at:
            entries.append(Entry(alert.acknowledged_at, "alert", "Alert acknowledged", alert.acknowledge_reason or "",
                                 alert.acknowledged_by or ""))  # fmt: skip
        if alert.resolved_at:
            cause = "the step is done" if alert.kind == "overdue_step" else "its cause is gone"
            entries.append(Entry(alert.resolved_at, "alert", f"Alert resolved: {cause}", about, "sweep"))
    return entries


def _event(event: CaseEvent, pathway: Pathway, facilities: dict[int, str]) -> Entry:
    if event.kind == "contact_attempt":
        return _contact(event, pathway)
    if event.kind == "case_opened":
        data = event.payload
        detail = f"{words(data.get('finding_type', ''))}, {data.get('laterality', '')} breast, " \
                 f"BI-RADS {data.get('birads', '')}, density {data.get('density', '')}"  # fmt: skip
        return Entry(event.occurred_at, "event", "Case opened", detail, event.actor)
    rule = pathway.events.get(event.kind)
    title = rule.title if rule else words(event.kind).capitalize()
    detail = ", ".join(f"{_label(key)}: {_value(key, value, facilities)}" for key, value in event.payload.items()
                       if key != "facility_ids")  # fmt: skip
    return Entry(event.occurred_at, "event", title, detail, event.actor, tuple(event.outcome.get("warnings", [])))


def _contact(event: CaseEvent, pathway: Pathway) -> Entry:
    data = event.payload
    method = {"call": "Call", "letter": "Letter"}.get(data.get("method", ""), "Contact")
    title = f"{method}: {words(data.get('outcome', ''))}"
    parts = []
    if data.get("scheduled_for"):
        parts.append(f"new appointment {_value('scheduled_for', data['scheduled_for'], {})}")
    if data.get("note"):
        parts.append(str(data["note"]))
    return Entry(event.occurred_at, "contact", title, "; ".join(parts), event.actor,
                 tuple(event.outcome.get("warnings", [])))  # fmt: skip


def _label(key: str) -> str:
    return {"facility_id": "facility", "scheduled_for": "appointment"}.get(key, words(key))


def _value(key: str, value: Any, facilities: dict[int, str]) -> str:
    if key == "facility_id" and isinstance(value, int):
        return facilities.get(value, "another facility")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return shown_moment(parse_moment(value, key))
        except FieldRefused:  # not a moment after all: shown as written
            return value
    return words(value)
