"""The small condition language of pathway files: `when:` / `unless:` on checks, actions and outcomes.

A condition is a mapping; every entry must hold. An entry is a subject and its tests:

    birads: {in: ["1", "2", "3"]}             # a field of the event being recorded
    morphology: {concern: [high]}             # the value's entry in the vocabulary of the same name
    recorded.morphology: {concern: [high]}    # this event's value, else the latest one recorded
    case.birads: {in: ["5"]}                  # a fact of the case (birads, density, finding_type, ...)
    last.pathology_result.category: {is: benign}   # a field of the last event of that kind
    contact.attempts_done: {is: true}         # every contact attempt after a missed appointment made
    opening.facilities: {present: true}       # outside facilities named when the case opened
    completed: [magnification_views]          # these steps are done on the case
    any_of: [{...}, {...}]                    # at least one of these conditions holds

Tests: is, in, not_in, present, concern, below, at_least, min_length, in_vocabulary. Text compares
without regard to case. A subject with no value fails every test but `present: false` and `not_in`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracking.pathway.decision import CaseState
    from tracking.pathway.definition import Pathway

CASE_FACTS = ("birads", "density", "finding_type", "laterality", "palpable", "status", "disposition")
CONTACT_FACTS = ("attempts_made", "attempts_done")
TESTS = ("is", "in", "not_in", "present", "concern", "below", "at_least", "min_length", "in_vocabulary")
COMBINATORS = ("any_of", "all_of")


@dataclass(frozen=True)
class Context:
    """What a condition may look at."""

    pathway: Pathway
    case: CaseState
    data: dict[str, Any] = field(default_factory=dict)
    facility_ids: tuple[int, ...] = ()


def holds(condition: dict[str, Any] | None, context: Context) -> bool:
    if not condition:
        return True
    for subject, tests in condition.items():
        if subject == "any_of":
            if not any(holds(part, context) for part in tests):
                return False
        elif subject == "all_of":
            if not all(holds(part, context) for part in tests):
                return False
        elif subject == "completed":
            if not all(context.case.has_completed(kind) for kind in tests):
                return False
        elif not _passes(subject_value(subject, context), tests, _vocabulary_of(subject, context)):
            return False
    return True


def subject_value(subject: str, context: Context) -> Any:
    head, _, rest = subject.partition(".")
    if not rest:
        return context.data.get(subject)
    if head == "case":
        return getattr(context.case, rest, None)
    if head == "opening":
        return list(context.facility_ids) or None
    if head == "contact":
        from tracking.pathway.contact import attempts_since_missed

        made = attempts_since_missed(context.case)
        return made if rest == "attempts_made" else made >= len(context.pathway.no_show.attempts)
    if head == "recorded":
        return recorded_value(rest, context)
    if head == "last":
        kind, _, name = rest.partition(".")
        for entry in reversed(context.case.history):
            if entry.kind == kind:
                return entry.payload.get(name)
        return None
    raise ValueError(f"unknown condition subject {subject!r}")  # the builder refuses these at load


def recorded_value(name: str, context: Context) -> Any:
    """This event's value of `name`, else the latest recorded, looking back no further than the
    pathway's `recorded_findings_reset_by` events (a tissue diagnosis answers what imaging saw)."""
    if context.data.get(name) not in (None, ""):
        return context.data[name]
    for entry in reversed(context.case.history):
        if entry.kind in context.pathway.recorded_findings_reset_by:
            return None
        if entry.payload.get(name) not in (None, ""):
            return entry.payload[name]
    return None


def _vocabulary_of(subject: str, context: Context) -> dict[str, Any]:
    name = subject.rsplit(".", 1)[-1]
    vocabulary = context.pathway.vocabularies.get(name)
    return vocabulary if isinstance(vocabulary, dict) else {}


def _folded(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _passes(value: Any, tests: dict[str, Any], vocabulary: dict[str, Any]) -> bool:
    missing = value is None or (isinstance(value, str) and not value.strip())
    for test, expected in tests.items():
        if test == "present":
            if missing == bool(expected):
                return False
            continue
        if test == "not_in":
            if not missing and _folded(value) in {_folded(item) for item in expected}:
                return False
            continue
        if missing:
            return False
        if test == "is" and _folded(value) != _folded(expected):
            return False
        if test == "in" and _folded(value) not in {_folded(item) for item in expected}:
            return False
        if test == "concern" and vocabulary.get(str(value).strip().lower()) not in expected:
            return False
        if test in ("below", "at_least") and not _compare(value, test, expected):
            return False
        if test == "min_length" and (not isinstance(value, str) or len(value.strip()) < expected):
            return False
        if test == "in_vocabulary" and str(value).strip().lower() not in expected:
            return False  # the builder replaces the vocabulary's name with its entries
    return True


def _compare(value: Any, test: str, expected: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return bool(value < expected) if test == "below" else bool(value >= expected)
