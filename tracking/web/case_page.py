"""Everything the case page shows, gathered once: the case header, how to reach her, where the case
stands, the forms a role may use, notes and tasks, and the timeline for people."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tracking.alerts.stuck_work import CASE_ALERTS, OUTSIDE_WORK_ALERTS, unresolved_stuck_work
from tracking.cases.models import Case, CaseEvent, Patient
from tracking.cases.queries import case_history, other_open_cases
from tracking.cases.windows import due_text, step_window
from tracking.letters.marking import sending_note
from tracking.letters.models import Letter
from tracking.letters.queries import letter_reprints, recorded_letters
from tracking.navigation.notes import case_notes
from tracking.navigation.tasks import case_tasks
from tracking.notify.models import Notification
from tracking.pathway.definition import EventRule, Pathway, find_pathway
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES
from tracking.runs.models import CaseRun
from tracking.users.models import User
from tracking.users.roles import ASSIGN, MANAGE_ALERTS, NAVIGATE, Role, may_record_any
from tracking.users.service import Signed
from tracking.web.contact_view import how_to_reach, language_options, phone_rows, stored_values
from tracking.web.deliveries import prior_film_deliveries
from tracking.web.event_forms import field_widgets, group_events, recordable_events
from tracking.web.letters_page import case_letter
from tracking.web.presenters import lateness, side, step_title, words
from tracking.web.timeline import case_timeline, system_timeline

SAVED = {
    "opened": "Case opened.",
    "added_to_patient": "Case opened for a patient already known here.",
    "contact": "Contact details saved.",
    "note": "Note added.",
    "task": "Task added.",
    "task_done": "Task marked done.",
    "task_cancelled": "Task cancelled.",
    "event": "Saved.",
    "ack": "Alert acknowledged.",
    "letter_sent": "Letter marked sent.",
}
CALL_OUTCOMES = ("reached", "no_answer", "left_message", "wrong_number", "letter_sent", "rescheduled")
CONTACT_EVENT = "contact_attempt"


@dataclass
class Forms:
    """What the forms on the page show: stored values, or what was typed with its problems."""

    problems: list[tuple[str, str]] = field(default_factory=list)  # (field id, message), in the page's order
    event: dict[str, Any] | None = None  # the "What happened" form, open
    call: dict[str, Any] | None = None  # the "Log a call or letter" form after a refusal
    contact: dict[str, Any] | None = None  # the contact details form after a refusal
    note: str = ""
    task: dict[str, str] = field(default_factory=dict)


def saved_banner(session: Session, case_id: int, saved: str | None, recorded: int | None,
                 pathway: Pathway, letter_id: int | None = None) -> dict[str, Any] | None:  # fmt: skip
    """The success banner after a save (Post/Redirect/Get: ?saved=...), with the event's warnings."""
    if saved not in SAVED:
        return None
    banner: dict[str, Any] = {"text": SAVED[saved], "warnings": []}
    if saved == "added_to_patient":
        case = session.get(Case, case_id)
        patient = session.get(Patient, case.patient_id) if case is not None else None
        if case is not None and patient is not None:
            others = other_open_cases(session, patient.id, case_id)
            banner["text"] = (
                f"Case opened and added to the existing patient {patient.family_name}, {patient.given_name}, who has "
                f"{others} other open case{'' if others == 1 else 's'}."
            )
    if saved == "letter_sent" and letter_id is not None:
        letter = session.get(Letter, letter_id)
        if letter is not None and letter.case_id == case_id and letter.status == "sent":
            banner["text"] = sending_note(session, letter)
    if saved == "event" and recorded is not None:
        event = session.exec(select(CaseEvent).where(CaseEvent.id == recorded, CaseEvent.case_id == case_id)).first()
        if event is not None:
            rule = pathway.events.get(event.kind)
            banner["text"] = f"Saved: {rule.title if rule else words(event.kind)}."
            banner["warnings"] = list(event.outcome.get("warnings", []))
    return banner


def refused_field(rule: EventRule, refusal: dict[str, Any] | None, prefix: str, first: str) -> dict[str, Any] | None:
    """The refusal with the id of the form field it is about: the field it names, else the form's first."""
    if refusal is None:
        return None
    name = refusal.get("field")
    field_id = f"{prefix}-{name}" if name in rule.fields or name == "occurred_at" else first
    return refusal | {"field_id": field_id}


def event_form_context(pathway: Pathway, rule: EventRule, facilities: list[tuple[int, str]], *,
                       values: dict[str, str] | None = None, refusal: dict[str, Any] | None = None,
                       token: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The "What happened" form for one event kind."""
    widgets = field_widgets(pathway, rule, facilities=facilities)
    first = widgets[0]["id"] if widgets else "ev-occurred_at"
    return {"rule": rule, "widgets": widgets, "values": values or {},
            "refusal": refused_field(rule, refusal, "ev", first), "token": token or str(uuid.uuid4())}  # fmt: skip


def call_form_context(rule: EventRule, *, values: dict[str, str] | None = None,
                      refusal: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The "Log a call or letter" form: the contact_attempt event, in the words of a phone call."""
    choices = rule.fields["outcome"].choices
    return {
        "outcomes": [(value, words(value)) for value in CALL_OUTCOMES if value in choices],
        "methods": list(rule.fields["method"].choices),
        "values": values or {"method": "call"},
        "refusal": refused_field(rule, refusal, "call", "call-outcome"),
        "token": token or str(uuid.uuid4()),
    }


def load_case_page(session: Session, case_id: int, signed: Signed, now: datetime, *, forms: Forms | None = None,
                   system: bool = False, saved: str | None = None, recorded: int | None = None,
                   event_kind: str | None = None, letter: int | None = None) -> dict[str, Any]:  # fmt: skip
    forms = forms or Forms()
    role = signed.user.role
    history = case_history(session, case_id, actor=signed.user.username, now=now)
    case = history.case
    pathway = find_pathway(case.pathway_name, case.pathway_version)
    # Open steps, and routine screening handed off at closure (still tracked: tracking/screening/),
    # show how late they are; `done` steps no longer carry an alert after the next sweep.
    tracked = ("pending", "scheduled", "handed_off") if case.status == "closed" else OPEN_STEP_STATUSES
    facility_names = {facility.id: facility.name for _, facility in history.prior_film_requests}
    steps: list[dict[str, Any]] = [
        {
            "step": step,
            "title": step_title(pathway, step.kind)
            + (f": {facility_names[step.facility_id]}" if step.facility_id in facility_names else ""),
            "side": side(step.laterality),
            "window": step_window(step),
            "due": due_text(step),
            "late": lateness(step.due_at, now) if step.status in tracked else None,
            "screening": pathway.is_screening(step.kind),
            "handed_off": step.status == "handed_off",
        }
        for step in history.steps
    ]
    steps_by_id = {item["step"].id: item for item in steps}
    case_alerts = unresolved_stuck_work(session, kinds=CASE_ALERTS, case_ids=[case_id])
    stuck_by_id = {item.alert_id: item for item in case_alerts}
    facilities = [(facility.id, facility.name) for _, facility in history.prior_film_requests if facility.id]
    events = recordable_events(pathway, role, case.status)
    call_rule = next((rule for rule in events if rule.kind == CONTACT_EVENT), None)
    open_kinds = [step.kind for step in history.steps if step.status in OPEN_STEP_STATUSES]
    event_form = forms.event
    if event_form is None and event_kind:
        rule = next((rule for rule in events if rule.kind == event_kind), None)
        event_form = event_form_context(pathway, rule, facilities) if rule else None
    notes = case_notes(session, case_id)
    tasks = case_tasks(session, case_id)
    letters = recorded_letters(session, case_id=case_id)
    context: dict[str, Any] = {
        "history": history,
        "case": case,
        "patient": history.patient,
        "age": (now.date() - history.patient.birth_date).days // 365,
        "reach": how_to_reach(history.patient),
        "pathway": pathway,
        "steps": steps,
        "next_steps": [item for item in steps if item["late"] and not item["screening"] and not item["handed_off"]],
        "recall": [item for item in steps if item["handed_off"] and item["late"]],
        "alerts": [
            {"alert": alert, "step": steps_by_id[alert.step_id], "title": steps_by_id[alert.step_id]["title"]}
            for alert in history.alerts
            if alert.status != "resolved" and alert.step_id in steps_by_id
        ]
        + [
            {"alert": alert, "step": None, "title": stuck_by_id[alert.id].headline}
            for alert in history.alerts
            if alert.id in stuck_by_id
        ],
        "stuck": [item for item in case_alerts if item.kind in OUTSIDE_WORK_ALERTS],
        "deliveries": prior_film_deliveries(session, case_id),
        "timeline": case_timeline(
            history,
            pathway,
            notes=notes,
            tasks=tasks,
            facilities=dict(facilities),
            letters=letters,
            reprints=letter_reprints(session, case_id),
        ),
        "letters": [case_letter(session, letter) for letter in letters],
        "system": system,
        "system_timeline": _system_entries(session, case_id) if system else [],
        "notes": sorted(notes, key=lambda note: (note.created_at, note.id or 0), reverse=True),
        "open_tasks": [(task, lateness(task.due_at, now)) for task in tasks if task.status == "open"],
        "closed_tasks": [task for task in tasks if task.status != "open"],
        "event_groups": group_events(events, open_kinds),
        "form": event_form,
        "call_form": forms.call or (call_form_context(call_rule) if call_rule else None),
        "contact_form": forms.contact or stored_values(history.patient),
        "contact_open": forms.contact is not None,
        "languages": language_options(),
        "note_value": forms.note,
        "task_values": forms.task,
        "problems": forms.problems,
        "problem_for": dict(forms.problems),
        "names": dict(session.exec(select(User.username, User.display_name)).all()),
        "banner": None if forms.problems else saved_banner(session, case_id, saved, recorded, pathway, letter),
        "navigator": session.get(User, case.navigator_id) if case.navigator_id else None,
        "navigators": session.exec(
            select(User).where(User.role == Role.navigator, col(User.disabled_at).is_(None)).order_by(User.username)
        ).all(),
        "can_record": may_record_any(role) and bool(events),
        "can_assign": role in ASSIGN,
        "can_ack": role in MANAGE_ALERTS,
        "can_take_notes": role in NAVIGATE,
        "can_add_tasks": role in NAVIGATE and case.status != "closed",
        "now": now,
        "snooze_choices": [1, 3, 7, 14],
    }
    context["phone_rows"] = phone_rows(context["contact_form"])
    return context


def _system_entries(session: Session, case_id: int) -> list[Any]:
    runs = session.exec(select(CaseRun).where(CaseRun.case_id == case_id).order_by(col(CaseRun.id))).all()
    notes = session.exec(
        select(Notification).where(Notification.case_id == case_id).order_by(col(Notification.id))
    ).all()
    return system_timeline(runs, notes)
