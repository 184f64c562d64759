"""Hypothesis draws for events, from a pathway's own rules (any pathway file).

Event kinds come from the case's pathway; field values come from each field's declared type, its
choices and the pathway's vocabularies, so an event or a field added to a YAML file is exercised
without touching the tests. Values are mostly valid and sometimes not (wrong type, unknown word,
control characters, a moment without a time zone, a field the event does not have, ...), so
refusals are exercised as well.

The functions take `draw` (hypothesis's `data.draw`) and return values, rather than building
strategies per call: the property test on PostgreSQL draws thousands of them and this keeps the
drawing cheap. Used by tests/integration/test_no_silent_stall_property.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tracking.pathway.decision import CaseState
from tracking.pathway.definition import EventRule, FieldRule, Pathway
from tracking.pathway.vocabulary import FindingType

Draw = Callable[[st.SearchStrategy], Any]

UNKNOWN_EVENT = "no_such_event"  # an event kind no pathway declares
UNKNOWN_FACILITY = 99_999
TEXTS = ("ok", "no", "facility closed, records destroyed", "second reader agrees", "  padded  ", "mammography")
BAD_TEXTS = ("", "   ", 7, "nul\x00inside", "bell\x07", "x" * 5000)


@cache
def chance(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in `one_in` draws.

    Hypothesis favours the bounds of an integer range, so the rare outcome is a residue away from
    them (and shrinking towards 0 gives False: failures shrink to the ordinary path).
    """
    assert one_in > 2
    return st.integers(0, 1_000_000).map(lambda value: value % one_in == one_in // 2)


@cache
def _sampled(values: tuple) -> st.SearchStrategy:
    return st.sampled_from(values)


def pick(draw: Draw, values: Sequence) -> Any:
    try:
        strategy = _sampled(tuple(values))
    except TypeError:  # values that cannot be a cache key (they hold a dict)
        strategy = st.sampled_from(values)
    return draw(strategy)


def rarely(draw: Draw, one_in: int) -> bool:
    return draw(chance(one_in))


# --- pathways ---------------------------------------------------------------------------------------------


def newest_pathways(pathways: list[Pathway]) -> list[Pathway]:
    """The newest version of each pathway name (new cases open on it)."""
    newest: dict[str, Pathway] = {}
    for pathway in pathways:
        if pathway.name not in newest or pathway.version > newest[pathway.name].version:
            newest[pathway.name] = pathway
    return [newest[name] for name in sorted(newest)]


def pathways_by_finding(pathways: list[Pathway]) -> dict[str, list[Pathway]]:
    """Finding type (those a case can be opened with) -> the newest pathways that take it."""
    found: dict[str, list[Pathway]] = {}
    known = {value.value for value in FindingType}
    for pathway in newest_pathways(pathways):
        for finding in pathway.finding_types:
            if finding in known:
                found.setdefault(str(finding), []).append(pathway)
    return dict(sorted(found.items()))


def uncovered_findings(pathways: list[Pathway]) -> list[str]:
    """Finding types no pathway takes: opening a case with one must be refused."""
    covered = pathways_by_finding(pathways)
    return sorted(value.value for value in FindingType if value.value not in covered)


# --- field values -----------------------------------------------------------------------------------------


def vocabulary_values(pathway: Pathway, name: str) -> tuple[str, ...]:
    """Every word of a vocabulary: a list, the keys of a mapping, or the words of a mapping of groups."""
    values = pathway.vocabularies[name]
    if isinstance(values, dict):
        if values and all(isinstance(group, list) for group in values.values()):
            return tuple(sorted({str(item) for group in values.values() for item in group}))
        return tuple(sorted(str(key) for key in values))
    return tuple(str(value) for value in values)


def grouped_vocabulary(pathway: Pathway, name: str) -> dict[str, tuple[str, ...]] | None:
    values = pathway.vocabularies.get(name)
    if isinstance(values, dict) and values and all(isinstance(group, list) for group in values.values()):
        return {str(key): tuple(str(item) for item in group) for key, group in values.items()}
    return None


def facility_ids(case: CaseState) -> tuple[int, ...]:
    return tuple(sorted({step.facility_id for step in case.steps if step.facility_id is not None}))


def field_value(draw: Draw, pathway: Pathway, case: CaseState, field: FieldRule, at: datetime, bad_one_in: int) -> Any:
    """A value for one field: valid (in a notation the services accept) but about once in `bad_one_in`."""
    bad = rarely(draw, bad_one_in)
    if field.type == "text":
        return pick(draw, BAD_TEXTS if bad else TEXTS)
    if field.type == "integer":
        if field.name == "facility_id":
            known = facility_ids(case) or (UNKNOWN_FACILITY,)
            if bad:
                return pick(draw, (UNKNOWN_FACILITY, "eleven", -1, 2**40))
            value = pick(draw, known)
            return str(value) if rarely(draw, 4) else value
        return pick(draw, ("three", 2.5, True, -4, 2**40)) if bad else draw(st.integers(1, 10))
    if field.type == "number":
        if bad:
            return pick(draw, ("ten", float("nan"), -1, 1e12))
        return draw(st.integers(0, 80)) if draw(st.booleans()) else draw(st.floats(0, 80))
    if field.type == "boolean":
        return pick(draw, ("maybe", 1)) if bad else pick(draw, (True, False, "yes", "no", "true"))
    if field.type == "datetime":
        if bad:
            return pick(draw, ("2026-03-10T10:00:00", "next tuesday", "2250-01-01T00:00:00+00:00"))
        return (at + timedelta(hours=draw(st.integers(1, 24 * 45)))).isoformat()
    if field.type == "choice":
        return pick(draw, ("bogus", 3)) if bad else pick(draw, field.choices)
    if bad:
        return pick(draw, ("7", "", None, 4, "spiculated", "everywhere", "  "))
    word = pick(draw, vocabulary_values(pathway, field.type))
    if rarely(draw, 5):  # the services accept a word in any case
        return word.lower() if word.upper() == word else word.upper()
    return word


def event_data(
    draw: Draw, pathway: Pathway, case: CaseState, kind: str, at: datetime, fixed: dict[str, Any], bad_one_in: int
) -> Any:
    """Data for `kind`: each declared field present or absent, mostly valid (see `field_value`), the
    `fixed` fields mostly as given; rarely a field the event does not have, or not a mapping at all."""
    rule: EventRule | None = pathway.events.get(kind)
    if rule is None:
        return {"findings": "x"} if draw(st.booleans()) else {}
    data: dict[str, Any] = {}
    for name, field in rule.fields.items():
        if name in fixed and not rarely(draw, 20):
            data[name] = fixed[name]
            continue
        present = not rarely(draw, 2 * bad_one_in) if field.required else rarely(draw, 3)
        if present:
            data[name] = field_value(draw, pathway, case, field, at, bad_one_in)
    # A field of a grouped vocabulary (pathology diagnosis within its category) mostly agrees with
    # the field that names its group.
    for name, field in rule.fields.items():
        groups = grouped_vocabulary(pathway, field.type)
        if groups is None or field.within is None:
            continue
        group = groups.get(str(data.get(field.within)))
        if group and not rarely(draw, 5):
            data[name] = pick(draw, group)
    if rarely(draw, 2 * bad_one_in):
        data["colour"] = "blue"  # a field the event does not have
    if rarely(draw, 4 * bad_one_in):
        return "not a mapping"
    return data


# --- which event ------------------------------------------------------------------------------------------


_LINKED: dict[tuple[str, int, int, str], list[tuple[str, dict[str, Any]]]] = {}


def linked_events(pathway: Pathway, step_kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Events that act on an open step of `step_kind`, with the field values that point them at it.

    An event acts on a step when it completes, cancels or schedules it, when one of its choice
    fields names the step (a missed or booked appointment), or when it records an assessment and
    the step is the pathway's `final_assessment_step` (a complete assessment closes it). Events
    that close the step come three times in the list: walks then move cases along more than they
    book and miss appointments.
    """
    key = (pathway.name, pathway.version, id(pathway), step_kind)
    if key not in _LINKED:
        linked = []
        for kind, rule in sorted(pathway.events.items()):
            fixed = {name: step_kind for name, field in rule.fields.items() if step_kind in field.choices}
            closes = step_kind in rule.completes + rule.cancels
            assesses = "assessment_outcome" in {action.name for action in rule.then}
            closes = closes or (assesses and step_kind == pathway.final_assessment_step)
            if closes:
                linked += [(kind, fixed)] * 3
            elif step_kind in rule.schedules or fixed:
                linked.append((kind, fixed))
        _LINKED[key] = linked
    return [(kind, dict(fixed)) for kind, fixed in _LINKED[key]]


def event_choice(draw: Draw, pathway: Pathway, case: CaseState) -> tuple[str, dict[str, Any]]:
    """Mostly an event that acts on an open step of the case (so it moves along), sometimes any event.

    The step acted on is mostly the oldest open one (as a worklist is worked), one time in three any
    open one: in-memory runs of these draws on the engine as it was before issue 10 was fixed
    reached the stall about three times as often that way as with a step chosen evenly.
    """
    if rarely(draw, 40):
        return UNKNOWN_EVENT, {}
    if not rarely(draw, 12):
        steps = [step for step in case.steps if step.is_open]
        if steps:
            oldest = min(steps, key=lambda step: step.id)
            target = pick(draw, sorted({step.kind for step in steps})) if rarely(draw, 3) else oldest.kind
            linked = linked_events(pathway, target)
            if linked:
                return pick(draw, linked)
    return pick(draw, sorted(pathway.events)), {}
