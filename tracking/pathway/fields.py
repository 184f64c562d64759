"""Check and normalise an event's data against the fields its pathway declares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tracking.pathway.decision import Refusal
from tracking.pathway.definition import EventRule, FieldRule, Pathway


class FieldRefused(Exception):
    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(str(refusal))


def normalise_event_data(pathway: Pathway, rule: EventRule, data: Any) -> dict[str, Any]:
    """Return the event's data with every value checked and normalised; raise FieldRefused."""
    if not isinstance(data, dict):
        raise FieldRefused(Refusal(f"The data for '{rule.kind}' must be a JSON object of fields."))
    unknown = sorted(set(data) - set(rule.fields))
    if unknown:
        raise FieldRefused(
            Refusal(
                f"'{rule.kind}' has no field {', '.join(repr(name) for name in unknown)}; "
                f"its fields are: {', '.join(rule.fields)}.",
                field=unknown[0],
            )
        )
    clean: dict[str, Any] = {}
    for name, field_rule in rule.fields.items():
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field_rule.required:
                raise FieldRefused(Refusal(f"'{rule.kind}' needs '{name}'.", field=name))
            continue
        clean[name] = _normalise(pathway, rule, field_rule, value)
    return clean


def _refuse(rule: EventRule, field: FieldRule, expected: str, value: Any) -> FieldRefused:
    return FieldRefused(
        Refusal(f"'{field.name}' of '{rule.kind}' must be {expected}; got {value!r}.", field=field.name)
    )


def _normalise(pathway: Pathway, rule: EventRule, field: FieldRule, value: Any) -> Any:
    kind = field.type
    if kind == "text":
        if not isinstance(value, str):
            raise _refuse(rule, field, "text", value)
        return value.strip()
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().isdigit():
                return int(value)
            raise _refuse(rule, field, "a whole number", value)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(rule, field, "a number", value)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise _refuse(rule, field, "true or false", value)
    if kind == "datetime":
        return parse_moment(value, f"'{field.name}' of '{rule.kind}'")
    choices = field.choices if kind == "choice" else pathway.choices(kind)
    text = str(value).strip()
    if kind == "birads":
        text = text.upper()
    elif kind != "choice":
        text = text.lower()
    if text not in choices:
        raise _refuse(rule, field, f"one of {', '.join(choices)}", value)
    return text


def parse_moment(value: Any, what: str) -> datetime:
    """An ISO 8601 moment with a time zone, as UTC; refuse naive or malformed ones."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise FieldRefused(Refusal(f"{what} must be an ISO 8601 date-time; got {value!r}.")) from None
    if moment.tzinfo is None:
        raise FieldRefused(Refusal(f"{what} needs a time zone, e.g. 2026-03-01T09:30:00+00:00; got {value!r}."))
    return moment.astimezone(UTC)
