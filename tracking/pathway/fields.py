"""Check and normalise an event's data against the fields its pathway declares."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracking.pathway.decision import Refusal
from tracking.pathway.definition import EventRule, FieldRule, Pathway

# --- bounds every event field obeys, shared by the web form, the API and the CLI ------------------

INT4_MAX = 2**31 - 1
TEXT_MAX_LENGTH = 4000  # free text (findings, plan, note): stored in JSON, bounded all the same
EARLIEST_MOMENT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Bounds:
    """What a field accepts beyond its type: a number range (inclusive) or a text length."""

    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


# By field name; anything not named here gets its type's default below.
FIELD_BOUNDS: dict[str, Bounds] = {
    "reason": Bounds(max_length=500),  # prior_film_requests.unobtainable_reason is varchar(500)
    "override_reason": Bounds(max_length=500),
    "modality": Bounds(max_length=100),
    "extent_mm": Bounds(minimum=0, maximum=1000),  # millimetres of calcification extent
    "cores": Bounds(minimum=1, maximum=100),
    "facility_id": Bounds(minimum=1, maximum=INT4_MAX),
}
TYPE_BOUNDS: dict[str, Bounds] = {
    "text": Bounds(max_length=TEXT_MAX_LENGTH),
    "integer": Bounds(minimum=0, maximum=INT4_MAX),
    "number": Bounds(minimum=0, maximum=1_000_000),
}

# Control characters: none in names or one-line text; free text may hold line breaks and tabs.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def field_bounds(field: FieldRule) -> Bounds:
    """The bounds of one event field (by name, else by type; no bounds for choices and vocabularies)."""
    return FIELD_BOUNDS.get(field.name) or TYPE_BOUNDS.get(field.type) or Bounds()


def plain_text(value: str) -> str:
    """A name or one-line value: refuse control characters (NUL included)."""
    if CONTROL.search(value):
        raise ValueError("must not contain control characters or line breaks")
    return value


def free_text(value: str) -> str:
    """Free text: line breaks and tabs are fine, other control characters (NUL included) are not."""
    if CONTROL_BUT_LINE_BREAKS.search(value):
        raise ValueError("must not contain control characters")
    return value


def bounded_text(value: str, *, what: str, max_length: int) -> str:
    """Free text typed by a person (a reason, a note): at most `max_length` characters, no control characters."""
    from tracking.cases.errors import InvalidInput

    if len(value) > max_length:
        raise InvalidInput(f"{what} may be at most {max_length} characters (got {len(value)})")
    try:
        return free_text(value)
    except ValueError as error:
        raise InvalidInput(f"{what} {error}") from None


def shown(value: Any) -> str:
    """A value as an error message may quote it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    for name, field_rule in rule.fields.items():
        if field_rule.within is not None and name in clean and field_rule.within in clean:
            _check_within(pathway, rule, field_rule, clean[name], clean[field_rule.within])
    return clean


def _check_within(pathway: Pathway, rule: EventRule, field: FieldRule, value: str, group: str) -> None:
    """A value of a grouped vocabulary (pathology) must belong to the group another field names."""
    members = pathway.vocabularies[field.type].get(group, [])
    if value not in members:
        words = group.replace("_", " ")
        raise FieldRefused(
            Refusal(
                f"'{value.replace('_', ' ')}' is not a {words} {field.name}; the {words} choices are: "
                f"{', '.join(members)}.",
                field=field.name,
            )
        )


def _refuse(rule: EventRule, field: FieldRule, expected: str, value: Any) -> FieldRefused:
    return FieldRefused(
        Refusal(f"'{field.name}' of '{rule.kind}' must be {expected}; got {shown(value)}.", field=field.name)
    )


def _normalise(pathway: Pathway, rule: EventRule, field: FieldRule, value: Any) -> Any:
    kind = field.type
    bounds = field_bounds(field)
    if kind == "text":
        if not isinstance(value, str):
            raise _refuse(rule, field, "text", value)
        value = value.strip()
        if bounds.max_length is not None and len(value) > bounds.max_length:
            raise _refuse(rule, field, f"at most {bounds.max_length} characters", f"{len(value)} characters")
        if CONTROL_BUT_LINE_BREAKS.search(value):
            raise _refuse(rule, field, "text without control characters", value)
        return value
    if kind == "integer":
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 20:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(rule, field, "a whole number", value)
        return _in_range(rule, field, bounds, value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(rule, field, "a number", value)
        if isinstance(value, float) and not math.isfinite(value):
            raise _refuse(rule, field, "a finite number", value)
        return _in_range(rule, field, bounds, value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise _refuse(rule, field, "true or false", value)
    if kind == "datetime":
        return parse_moment(value, f"'{field.name}' of '{rule.kind}'")
    choices = field.choices if kind == "choice" else pathway.choices(kind)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _refuse(rule, field, f"one of {', '.join(choices)}", value)
    wanted = str(value).strip().casefold()
    for choice in choices:  # the pathway's own spelling ("4B", "milk_of_calcium"), whatever the case given
        if choice.casefold() == wanted:
            return choice
    raise _refuse(rule, field, f"one of {', '.join(choices)}", value)


def _in_range(rule: EventRule, field: FieldRule, bounds: Bounds, value: int | float) -> int | float:
    if (bounds.minimum is not None and value < bounds.minimum) or (
        bounds.maximum is not None and value > bounds.maximum
    ):
        low = "" if bounds.minimum is None else f"{bounds.minimum:,}".replace(",", "")
        high = "" if bounds.maximum is None else f"{bounds.maximum:,}".replace(",", "")
        raise _refuse(rule, field, f"between {low} and {high}", value)
    return value


def parse_moment(value: Any, what: str) -> datetime:
    """An ISO 8601 moment with a time zone, as UTC, between 1900 and 2200; refuse naive or malformed ones."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise FieldRefused(Refusal(f"{what} must be an ISO 8601 date-time; got {shown(value)}.")) from None
    if moment.tzinfo is None:
        raise FieldRefused(Refusal(f"{what} needs a time zone, e.g. 2026-03-01T09:30:00+00:00; got {shown(value)}."))
    utc: datetime | None
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_MOMENT <= utc < LATEST_MOMENT:
        raise FieldRefused(Refusal(f"{what} must be between the years 1900 and 2199; got {shown(value)}."))
    return utc
