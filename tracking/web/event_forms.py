"""The "What happened" form: which events a role may record, grouped by the case's open steps, how
each field is asked for, and what was typed turned back into event data.

Dates and times are typed on the centre's clock (tracking/centre_time.py); the engine validates
every value and names what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracking.cases.errors import GuardRefused, InvalidInput
from tracking.centre_time import typed_moment, zone_label
from tracking.pathway.decision import Refusal
from tracking.pathway.definition import EventRule, Pathway
from tracking.pathway.fields import field_bounds
from tracking.users.roles import may_record
from tracking.web.presenters import words

FIELD_LABELS = {"facility_id": "facility", "scheduled_for": "appointment date and time"}


def recordable_events(pathway: Pathway, role: str, case_status: str | None = None) -> list[EventRule]:
    """The events `role` may record; on a closed case only those its pathway allows there (screening)."""
    closed = case_status == "closed"
    return [rule for rule in pathway.events.values()
            if may_record(role, rule.kind, pathway) and (rule.on_closed_case or not closed)]  # fmt: skip


@dataclass(frozen=True)
class EventGroups:
    """The events for the case's open steps first, the rest after."""

    for_open_steps: list[EventRule]
    other: list[EventRule]

    def __bool__(self) -> bool:
        return bool(self.for_open_steps or self.other)


def group_events(rules: Iterable[EventRule], open_step_kinds: Iterable[str]) -> EventGroups:
    """Split events by whether they complete, schedule or cancel a step kind that is open on the case."""
    open_kinds = set(open_step_kinds)
    first: list[EventRule] = []
    rest: list[EventRule] = []
    for rule in rules:
        links = {*rule.completes, *rule.schedules, *rule.cancels}
        (first if links & open_kinds else rest).append(rule)
    return EventGroups(first, rest)


def field_widgets(
    pathway: Pathway, rule: EventRule, *, facilities: list[tuple[int, str]] | None = None, prefix: str = "ev"
) -> list[dict[str, Any]]:
    """How each field of an event is asked for on the form; `facilities` are the case's, (id, name)."""
    widgets = []
    for field in rule.fields.values():
        label = FIELD_LABELS.get(field.name, field.name.replace("_", " "))
        widget: dict[str, Any] = {"name": field.name, "id": f"{prefix}-{field.name}", "label": label,
                                  "required": field.required}  # fmt: skip
        if field.name == "facility_id" and facilities is not None:
            widget |= {"input": "select", "options": [(str(facility_id), name) for facility_id, name in facilities]}
        elif field.type == "choice":
            widget |= {"input": "select", "options": [(value, words(value)) for value in field.choices]}
        elif field.type == "boolean":
            widget |= {"input": "select", "options": [("true", "yes"), ("false", "no")]}
        elif field.type in ("integer", "number"):
            bounds = field_bounds(field)
            widget |= {"input": "number", "step": "1" if field.type == "integer" else "any",
                       "min": _number(bounds.minimum), "max": _number(bounds.maximum)}  # fmt: skip
        elif field.type == "datetime":
            widget |= {"input": "datetime-local", "label": f"{label} ({zone_label()})"}
        elif field.type == "text":
            widget |= {"input": "text", "maxlength": field_bounds(field).max_length}
        else:  # a pathway vocabulary
            widget |= {"input": "select", "options": vocabulary_options(pathway, field.type)}
        widgets.append(widget)
    return widgets


def _number(value: float | None) -> str | None:
    return None if value is None else str(int(value)) if float(value).is_integer() else str(value)


def vocabulary_options(pathway: Pathway, name: str) -> list[tuple[str, str]]:
    values = pathway.vocabularies[name]
    if name == "pathology":
        return [(item, f"{words(item)} ({words(group)})") for group, items in values.items() for item in items]
    if name == "morphology":
        return [(key, f"{words(key)} ({concern})") for key, concern in values.items()]
    if isinstance(values, dict):
        return [(key, f"{words(key)}: {text}") for key, text in values.items()]
    return [(str(value), words(value)) for value in values]


def typed_field_moment(raw: str, field: str, what: str) -> datetime | None:
    """A date and time typed on the centre's clock; a mistake is refused naming the field."""
    try:
        return typed_moment(raw, what=what)
    except InvalidInput as error:
        raise GuardRefused(Refusal(str(error), field=field)) from None


def form_to_data(rule: EventRule, form: dict[str, str]) -> dict[str, Any]:
    """Form text to event data; the engine validates every value and names what is wrong."""
    data: dict[str, Any] = {}
    for field in rule.fields.values():
        raw = (form.get(field.name) or "").strip()
        if not raw:
            continue
        if field.type == "boolean":
            data[field.name] = raw == "true"
        elif field.type == "integer" and raw.lstrip("-").isascii() and raw.lstrip("-").isdigit() and len(raw) < 20:
            data[field.name] = int(raw)
        elif field.type == "number":
            try:
                data[field.name] = float(raw)
            except ValueError:
                data[field.name] = raw
        elif field.type == "datetime":
            data[field.name] = typed_field_moment(raw, field.name, FIELD_LABELS.get(field.name, words(field.name)))
        else:
            data[field.name] = raw
    return data
