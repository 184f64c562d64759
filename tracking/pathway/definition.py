"""The pathway as typed data: every clinical rule the engine applies, read from one YAML file.

The file's shape is checked by the pydantic models in schema.py; the builder below checks what
refers to what (a step an action names, a field a check reads), naming each problem's file line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tracking.pathway.conditions import CASE_FACTS, COMBINATORS, CONTACT_FACTS, TESTS
from tracking.pathway.dates import add_days, add_months
from tracking.pathway.schema import EventSpec, PathwayFile, StepSpec, validate_file
from tracking.pathway.source import Location, PathwaySource, read_source

FIELD_TYPES = {"text", "integer", "number", "boolean", "datetime", "choice"}
NAMED_ACTIONS = {
    "assessment_outcome",
    "routine_screening",
    "short_interval_followup",
    "start_contact_attempts",
    "contact_outcome",
    "lost_to_follow_up",
}
KEYED_ACTIONS = {"create", "cancel", "set_birads", "dispose", "warn"}
STEP_EVENT_LINKS = ("completes", "cancels", "schedules")
RESERVED_EVENTS = {"case_opened"}


class PathwayInvalid(ValueError):
    """A pathway file breaks the rules; `problems` lists each as `file:line: place: what`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class DueRule:
    days: int = 0
    months: int = 0
    window_days: int = 0
    by_birads: dict[str, int] = field(default_factory=dict)

    def due_from(self, anchor: datetime, birads: str | None = None) -> datetime:
        """The moment the step becomes overdue, counted from `anchor` (the end of a window, if any)."""
        if birads is not None and birads in self.by_birads:
            return add_days(anchor, self.by_birads[birads])
        return add_days(add_months(anchor, self.months), self.days + self.window_days)

    def target_from(self, anchor: datetime, birads: str | None = None) -> datetime | None:
        """A windowed step's target date (the middle of its window), counted from `anchor`; else None
        (also when a BI-RADS-specific due time applies, which has no window)."""
        if not self.window_days or (birads is not None and birads in self.by_birads):
            return None
        return add_days(add_months(anchor, self.months), self.days)


@dataclass(frozen=True)
class ChaseRule:
    at_days: tuple[int, ...]
    escalate_at_day: int


@dataclass(frozen=True)
class StepRule:
    kind: str
    title: str
    due: DueRule
    laterality: str | None = None
    role: str = "workup"
    per_facility: bool = False
    chase: ChaseRule | None = None
    remind_days_before_target: tuple[int, ...] = ()
    repeatable: bool = False


@dataclass(frozen=True)
class EscalationRule:
    level_2_after_days: int = 7
    level_3_after_days: int = 14


@dataclass(frozen=True)
class Action:
    """One thing a decision does: `name` is create, cancel, set_birads, dispose, warn or a named action."""

    name: str
    value: str | None = None
    laterality: str | None = None
    when: dict[str, Any] | None = None


@dataclass(frozen=True)
class NoShowRule:
    steps: tuple[str, ...] = ()
    attempts: tuple[str, ...] = ("call", "call", "letter")
    wait_after_last_days: int = 14
    contact_step: str = "patient_contact"
    recontact_step: str | None = None
    on_lost: tuple[Action, ...] = ()
    on_return: tuple[Action, ...] = ()


@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    within: str | None = None
    future_unless: str | None = None


@dataclass(frozen=True)
class Outcome:
    when: dict[str, Any] | None
    then: tuple[Action, ...]


@dataclass(frozen=True)
class Check:
    events: tuple[str, ...]
    guard: str | None = None
    before_fields: bool = False
    when: dict[str, Any] | None = None
    unless: dict[str, Any] | None = None
    refuse: str | None = None
    flag: str | None = None
    reason_field: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class EventRule:
    kind: str
    title: str
    fields: dict[str, FieldRule]
    completes: tuple[str, ...] = ()
    cancels: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    step_from: tuple[str, dict[str, str]] | None = None
    guards: tuple[str, ...] = ()  # the guards whose checks apply to this event (from `checks:`)
    then: tuple[Action, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    recorded_by: tuple[str, ...] = ("navigator",)
    brings_back: bool | dict[str, Any] = False
    on_closed_case: bool = False
    completes_when_open: bool = False  # with none of `completes` open, recorded and completes nothing


@dataclass(frozen=True)
class Pathway:
    name: str
    version: int
    title: str
    finding_types: tuple[str, ...]
    vocabularies: dict[str, Any]
    steps: dict[str, StepRule]
    on_open: tuple[Action, ...]
    surveillance: tuple[str, ...]
    downgrade_to: str
    assessment_outcomes: dict[str, tuple[Action, ...]]
    events: dict[str, EventRule]
    escalation: EscalationRule = EscalationRule()
    no_show: NoShowRule = NoShowRule()
    guards: dict[str, str] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    stable_when: dict[str, Any] | None = None
    final_assessment_step: str | None = None
    recorded_findings_reset_by: tuple[str, ...] = ()
    timeliness: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""

    def choices(self, vocabulary: str) -> tuple[str, ...]:
        values = self.vocabularies[vocabulary]
        if isinstance(values, dict) and all(isinstance(group, list) for group in values.values()):
            return tuple(str(item) for group in values.values() for item in group)
        return tuple(str(value) for value in values)

    def is_screening(self, step_kind: str) -> bool:
        return self.steps[step_kind].role == "screening"

    @property
    def screening_step(self) -> str | None:
        return next((kind for kind, rule in self.steps.items() if rule.role == "screening"), None)

    def may_record(self, role: str, event_kind: str) -> bool:
        rule = self.events.get(event_kind)
        return rule is not None and role in rule.recorded_by


def content_hash(data: Any) -> str:
    """SHA-256 of a pathway file's content (its parsed data, so comments and layout do not count)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_pathway(path: Path | str) -> Pathway:
    """Read and validate a pathway file; raise PathwayInvalid listing every problem."""
    return build_pathway(read_source(path))


def build_pathway(source: PathwaySource) -> Pathway:
    spec, problems = validate_file(source)
    if spec is None:
        raise PathwayInvalid(problems)
    return _Builder(source, spec).build()


class _Builder:
    def __init__(self, source: PathwaySource, spec: PathwayFile):
        self.source = source
        self.spec = spec
        self.problems: list[str] = []
        self.vocabularies: dict[str, Any] = {}
        self.steps: dict[str, StepRule] = {}
        self.event_fields: dict[str, dict[str, FieldRule]] = {}

    def problem(self, location: Location, message: str) -> None:
        self.problems.append(f"{self.source.place(location)}: {message}")

    def build(self) -> Pathway:
        spec = self.spec
        self.vocabularies = self.vocabulary_entries(spec)
        self.steps = self.build_steps(spec.steps)
        for index, kind in enumerate(spec.surveillance.sequence):
            self.check_step_ref(kind, ("surveillance", "sequence", index))
        birads = set(self.choices("birads"))
        if spec.surveillance.downgrade_to not in birads:
            self.problem(
                ("surveillance", "downgrade_to"), f"'{spec.surveillance.downgrade_to}' is not a BI-RADS category"
            )
        self.event_fields = {
            kind: self.build_fields(body, ("events", kind, "fields")) for kind, body in spec.events.items()
        }
        on_open = self.actions(spec.on_open, ("on_open",))
        assessment_outcomes = {
            category: self.actions(actions, ("assessment_outcomes", category))
            for category, actions in spec.assessment_outcomes.items()
        }
        assessed = self.choices("assessment") if "assessment" in self.vocabularies else tuple(birads)
        for category in sorted(set(assessed) - set(assessment_outcomes)):
            self.problem(("assessment_outcomes",), f"no outcome for BI-RADS {category}")
        for category in sorted(set(assessment_outcomes) - birads):
            self.problem(("assessment_outcomes", category), f"'{category}' is not a BI-RADS category")
        checks = self.build_checks(spec)
        events = self.build_events(spec, checks)
        no_show = self.build_no_show(spec)
        stable_when = self.condition(spec.surveillance.stable_when, ("surveillance", "stable_when"), None)
        if spec.final_assessment_step is not None:
            self.check_step_ref(spec.final_assessment_step, ("final_assessment_step",))
        for index, kind in enumerate(spec.recorded_findings_reset_by):
            self.check_event_ref(kind, ("recorded_findings_reset_by", index))
        self.check_timeliness(spec)
        if spec.escalation.level_3_after_days <= spec.escalation.level_2_after_days:
            self.problem(("escalation", "level_3_after_days"), "level 3 must come after level 2")
        if sum(1 for rule in self.steps.values() if rule.role == "screening") > 1:
            self.problem(("steps",), "at most one step may have role: screening")
        if self.problems:
            raise PathwayInvalid(self.problems)
        return Pathway(
            name=spec.name,
            version=spec.version,
            title=spec.title or spec.name,
            finding_types=tuple(spec.finding_types),
            vocabularies=self.vocabularies,
            steps=self.steps,
            on_open=on_open,
            surveillance=tuple(spec.surveillance.sequence),
            downgrade_to=spec.surveillance.downgrade_to,
            assessment_outcomes=assessment_outcomes,
            events=events,
            escalation=EscalationRule(spec.escalation.level_2_after_days, spec.escalation.level_3_after_days),
            no_show=no_show,
            guards=dict(spec.guards),
            checks=checks,
            stable_when=stable_when,
            final_assessment_step=spec.final_assessment_step,
            recorded_findings_reset_by=tuple(spec.recorded_findings_reset_by),
            timeliness=spec.timeliness.model_dump(),
            content_hash=content_hash(self.source.data),
        )

    # --- vocabularies and steps ---------------------------------------------------------------------
    def vocabulary_entries(self, spec: PathwayFile) -> dict[str, Any]:
        for required in ("birads",):
            if required not in spec.vocabularies:
                self.problem(("vocabularies",), f"missing vocabulary '{required}'")
        return {
            name: ([str(value) for value in values] if isinstance(values, list) else dict(values))
            for name, values in spec.vocabularies.items()
        }

    def choices(self, vocabulary: str) -> tuple[str, ...]:
        values = self.vocabularies.get(vocabulary, ())
        if isinstance(values, dict) and all(isinstance(group, list) for group in values.values()):
            return tuple(str(item) for group in values.values() for item in group)
        return tuple(str(value) for value in values)

    def build_steps(self, data: dict[str, StepSpec]) -> dict[str, StepRule]:
        steps: dict[str, StepRule] = {}
        for kind, body in data.items():
            where = ("steps", kind)
            if body.due is None:
                self.problem(where, "missing due rule: every step needs 'due' with days and/or months")
                continue
            if body.due.days == 0 and body.due.months == 0:
                self.problem((*where, "due"), "a due rule needs days or months greater than 0")
                continue
            chase = ChaseRule(tuple(body.chase.at_days), body.chase.escalate_at_day) if body.chase else None
            steps[kind] = StepRule(
                kind=kind,
                title=body.title,
                due=DueRule(body.due.days, body.due.months, body.due.window_days, dict(body.due.by_birads)),
                laterality=body.laterality,
                role=body.role,
                per_facility=body.per == "facility",
                chase=chase,
                remind_days_before_target=tuple(body.reminders.days_before_target),
                repeatable=body.repeatable,
            )
        return steps

    def check_step_ref(self, kind: Any, where: Location) -> bool:
        if kind in self.steps or kind in self.spec.steps:
            return True
        self.problem(where, f"refers to step '{kind}', which is not declared under steps")
        return False

    def check_event_ref(self, kind: Any, where: Location) -> bool:
        if kind in self.spec.events:
            return True
        self.problem(where, f"refers to event '{kind}', which is not declared under events")
        return False

    # --- actions and conditions ----------------------------------------------------------------------
    def actions(self, data: list[Any], where: Location, event: str | None = None) -> tuple[Action, ...]:
        actions = []
        for index, item in enumerate(data):
            here = (*where, index)
            if isinstance(item, str):
                if item not in NAMED_ACTIONS:
                    self.problem(here, f"unknown action '{item}' (known: {', '.join(sorted(NAMED_ACTIONS))})")
                    continue
                actions.append(Action(name=item))
                continue
            if not isinstance(item, dict):
                self.problem(here, "an action is a name or a mapping")
                continue
            keys = set(item) & KEYED_ACTIONS
            if len(keys) != 1:
                self.problem(here, f"an action needs exactly one of {sorted(KEYED_ACTIONS)}")
                continue
            name = keys.pop()
            for extra in sorted(set(item) - {name, "laterality", "when"}):
                self.problem((*here, extra), f"unknown key '{extra}'")
            value = str(item[name])
            if name in ("create", "cancel") and not self.check_step_ref(value, (*here, name)):
                continue
            if name == "set_birads" and value not in self.choices("birads"):
                self.problem((*here, name), f"'{value}' is not a BI-RADS category")
            laterality = item.get("laterality")
            if laterality is not None and laterality not in ("affected", "bilateral", "other"):
                self.problem((*here, "laterality"), "laterality must be one of affected, bilateral, other")
            when = self.condition(item.get("when"), (*here, "when"), event)
            actions.append(Action(name=name, value=value, laterality=laterality, when=when))
        return tuple(actions)

    def condition(self, data: Any, where: Location, event: str | None) -> dict[str, Any] | None:
        """A checked condition (vocabulary names in `in_vocabulary` replaced by their entries)."""
        if data is None:
            return None
        if not isinstance(data, dict) or not data:
            self.problem(where, "a condition is a non-empty mapping of subjects to tests")
            return None
        clean: dict[str, Any] = {}
        for subject, tests in data.items():
            here = (*where, subject)
            if subject in COMBINATORS:
                if not isinstance(tests, list) or not tests:
                    self.problem(here, f"{subject} needs a list of conditions")
                    continue
                parts = [self.condition(part, (*here, index), event) for index, part in enumerate(tests)]
                clean[subject] = [part for part in parts if part is not None]
                continue
            if subject == "completed":
                kinds = tests if isinstance(tests, list) else [tests]
                for index, kind in enumerate(kinds):
                    self.check_step_ref(kind, (*here, index))
                clean[subject] = list(kinds)
                continue
            self.check_subject(subject, here, event)
            if not isinstance(tests, dict) or not tests:
                self.problem(here, f"tests for '{subject}' must be a mapping, e.g. {{in: [...]}}")
                continue
            clean[subject] = {}
            for test, expected in tests.items():
                if test not in TESTS:
                    self.problem((*here, test), f"unknown test '{test}' (known: {', '.join(TESTS)})")
                    continue
                if test in ("in", "not_in", "concern") and not isinstance(expected, list):
                    self.problem((*here, test), f"'{test}' needs a list")
                    continue
                if test == "in_vocabulary":
                    vocabulary = self.vocabularies.get(str(expected))
                    if vocabulary is None:
                        self.problem((*here, test), f"no vocabulary '{expected}'")
                        continue
                    expected = [str(key).lower() for key in vocabulary]
                clean[subject][test] = expected
        return clean

    def check_subject(self, subject: str, where: Location, event: str | None) -> None:
        head, _, rest = subject.partition(".")
        if not rest:
            if event is not None and subject not in self.event_fields.get(event, {}):
                self.problem(where, f"event '{event}' has no field '{subject}'")
            elif event is None and not any(subject in fields for fields in self.event_fields.values()):
                self.problem(where, f"no event has a field '{subject}'")
            return
        if head == "case" and rest in CASE_FACTS:
            return
        if head == "contact" and rest in CONTACT_FACTS:
            return
        if head == "opening" and rest == "facilities":
            return
        if head == "recorded" and any(rest in fields for fields in self.event_fields.values()):
            return
        if head == "last":
            kind, _, name = rest.partition(".")
            if self.check_event_ref(kind, where) and name not in self.event_fields.get(kind, {}):
                self.problem(where, f"event '{kind}' has no field '{name}'")
            return
        self.problem(
            where,
            f"unknown subject '{subject}' (a field of the event, case.<{'|'.join(CASE_FACTS)}>, "
            "recorded.<field>, last.<event>.<field>, contact.<attempts_made|attempts_done>, opening.facilities)",
        )

    # --- events, checks, no-shows ----------------------------------------------------------------------
    def build_fields(self, body: EventSpec, where: Location) -> dict[str, FieldRule]:
        fields = {}
        for name, spec in body.fields.items():
            kind = spec.type
            if kind not in FIELD_TYPES and kind not in self.vocabularies:
                self.problem((*where, name, "type"), f"unknown field type '{kind}'")
                continue
            choices = tuple(str(choice) for choice in spec.choices)
            if kind == "choice" and not choices:
                self.problem((*where, name), "a choice field needs 'choices'")
            fields[name] = FieldRule(
                name=name,
                type=kind,
                required=spec.required,
                choices=choices,
                within=spec.within,
                future_unless=spec.future_unless,
            )
        for name, rule in fields.items():
            if rule.within is not None and rule.within not in fields:
                self.problem((*where, name, "within"), f"no field '{rule.within}' on this event")
            if rule.future_unless is not None and fields.get(rule.future_unless, FieldRule("", "")).type != "boolean":
                self.problem((*where, name, "future_unless"), f"'{rule.future_unless}' must be a boolean field here")
        return fields

    def build_checks(self, spec: PathwayFile) -> tuple[Check, ...]:
        checks = []
        for index, body in enumerate(spec.checks):
            where = ("checks", index)
            if body.guard is not None and body.guard not in spec.guards:
                self.problem((*where, "guard"), f"unknown guard '{body.guard}' (known: {', '.join(spec.guards)})")
            if sum(1 for effect in (body.refuse, body.flag) if effect) == 0:
                self.problem(where, "a check needs 'refuse' or 'flag'")
            if body.reason_field is not None and not body.refuse:
                self.problem(where, "a check with reason_field needs 'refuse' (said when the reason is missing)")
            for position, kind in enumerate(body.events):
                if not self.check_event_ref(kind, (*where, "events", position)):
                    continue
                for name in (body.reason_field, body.field):
                    if name is not None and name not in self.event_fields.get(kind, {}):
                        self.problem((*where, "events", position), f"event '{kind}' has no field '{name}'")
            events = tuple(body.events)
            event = events[0] if len(events) == 1 else None
            when = self.condition(body.when, (*where, "when"), event)
            unless = self.condition(body.unless, (*where, "unless"), event)
            for kind in events if event is None else ():
                self.check_fields_on(body.when, kind, (*where, "when"))
                self.check_fields_on(body.unless, kind, (*where, "unless"))
            checks.append(
                Check(
                    events=events,
                    guard=body.guard,
                    before_fields=body.before_fields,
                    when=when,
                    unless=unless,
                    refuse=body.refuse,
                    flag=body.flag,
                    reason_field=body.reason_field,
                    field=body.field,
                )
            )
        return tuple(checks)

    def check_fields_on(self, condition: Any, event: str, where: Location) -> None:
        """Plain-field subjects of a check over several events must be fields of each."""
        if not isinstance(condition, dict):
            return
        for subject, tests in condition.items():
            if subject in COMBINATORS and isinstance(tests, list):
                for part in tests:
                    self.check_fields_on(part, event, where)
            elif "." not in subject and subject != "completed" and subject not in self.event_fields.get(event, {}):
                self.problem((*where, subject), f"event '{event}' has no field '{subject}'")

    def build_events(self, spec: PathwayFile, checks: tuple[Check, ...]) -> dict[str, EventRule]:
        events = {}
        for kind, body in spec.events.items():
            where = ("events", kind)
            if kind in RESERVED_EVENTS:
                self.problem(where, f"'{kind}' is recorded by the product itself, not declared in a pathway")
                continue
            links: dict[str, tuple[str, ...]] = {}
            for link in STEP_EVENT_LINKS:
                value = getattr(body, link)
                kinds = tuple(value if isinstance(value, list) else [value])
                for index, step_kind in enumerate(kinds):
                    self.check_step_ref(step_kind, (*where, link, index) if isinstance(value, list) else (*where, link))
                links[link] = kinds
            step_from = None
            if body.step_from is not None:
                if body.step_from.field not in self.event_fields[kind]:
                    self.problem((*where, "step_from", "field"), f"no field '{body.step_from.field}' on this event")
                for choice, step_kind in body.step_from.steps.items():
                    self.check_step_ref(step_kind, (*where, "step_from", "steps", choice))
                step_from = (body.step_from.field, dict(body.step_from.steps))
            outcomes = tuple(
                Outcome(
                    when=self.condition(outcome.when, (*where, "outcomes", index, "when"), kind),
                    then=self.actions(outcome.then, (*where, "outcomes", index, "then"), kind),
                )
                for index, outcome in enumerate(body.outcomes)
            )
            if outcomes and outcomes[-1].when is not None:
                self.problem((*where, "outcomes"), "the last outcome must have no 'when' (what happens otherwise)")
            brings_back: bool | dict[str, Any] = body.brings_back
            if isinstance(body.brings_back, dict):
                brings_back = self.condition(body.brings_back, (*where, "brings_back"), kind) or False
            guards = tuple(dict.fromkeys(check.guard for check in checks if check.guard and kind in check.events))
            events[kind] = EventRule(
                kind=kind,
                title=body.title,
                fields=self.event_fields[kind],
                step_from=step_from,
                guards=guards,
                then=self.actions(body.then, (*where, "then"), kind),
                outcomes=outcomes,
                recorded_by=tuple(body.recorded_by),
                brings_back=brings_back,
                on_closed_case=body.on_closed_case,
                completes_when_open=body.completes_when_open,
                **links,
            )
        return events

    def build_no_show(self, spec: PathwayFile) -> NoShowRule:
        body = spec.no_show
        for index, kind in enumerate(body.steps):
            self.check_step_ref(kind, ("no_show", "steps", index))
        if body.steps:
            self.check_step_ref(body.contact_step, ("no_show", "contact_step"))
        if body.recontact_step is not None:
            self.check_step_ref(body.recontact_step, ("no_show", "recontact_step"))
        return NoShowRule(
            steps=tuple(body.steps),
            attempts=tuple(body.attempts),
            wait_after_last_days=body.wait_after_last_days,
            contact_step=body.contact_step,
            recontact_step=body.recontact_step,
            on_lost=self.actions(body.on_lost, ("no_show", "on_lost")),
            on_return=self.actions(body.on_return, ("no_show", "on_return")),
        )

    def check_timeliness(self, spec: PathwayFile) -> None:
        milestones = spec.timeliness
        for name in ("diagnostic_imaging", "biopsy"):
            for index, kind in enumerate(getattr(milestones, name)):
                self.check_step_ref(kind, ("timeliness", name, index))
        for name in ("events", "assessment_events"):
            for index, kind in enumerate(getattr(milestones.diagnosis, name)):
                self.check_event_ref(kind, ("timeliness", "diagnosis", name, index))
        for index, category in enumerate(milestones.diagnosis.birads):
            if category not in self.choices("birads"):
                self.problem(("timeliness", "diagnosis", "birads", index), f"'{category}' is not a BI-RADS category")


def pathways_dir() -> Path:
    from tracking.settings import get_settings

    return get_settings().pathways_dir


@lru_cache(maxsize=32)
def _load_cached(path: Path, modified: float) -> Pathway:
    return load_pathway(path)


def find_pathway(name: str, version: int | None = None) -> Pathway:
    """The pathway called `name` at `version` (default: the newest) from the pathways folder."""
    candidates = []
    for path in sorted(pathways_dir().glob("*.yaml")):
        pathway = _load_cached(path, path.stat().st_mtime)
        if pathway.name == name and (version is None or pathway.version == version):
            candidates.append(pathway)
    if not candidates:
        wanted = f"{name} version {version}" if version else name
        raise LookupError(f"no pathway '{wanted}' in {pathways_dir()}")
    return max(candidates, key=lambda pathway: pathway.version)


def all_pathways() -> list[Pathway]:
    """Every pathway version in the pathways folder (cases may be pinned to any of them)."""
    return [_load_cached(path, path.stat().st_mtime) for path in sorted(pathways_dir().glob("*.yaml"))]


def pathway_for(finding_type: str) -> Pathway:
    """The newest version of the one pathway whose file lists `finding_type` under finding_types."""
    matches = [pathway for pathway in all_pathways() if finding_type in pathway.finding_types]
    names = sorted({pathway.name for pathway in matches})
    if not matches:
        raise LookupError(f"no pathway in {pathways_dir()} works up {finding_type} findings")
    if len(names) > 1:
        raise LookupError(f"{finding_type} findings are listed by pathways {', '.join(names)}; name one with 'pathway'")
    return max(matches, key=lambda pathway: pathway.version)


def all_step_titles() -> dict[str, str]:
    """Every step kind of every pathway file with its title (the newest version's), for lists
    that mix cases of several pathways."""
    titles: dict[str, str] = {}
    for pathway in sorted(all_pathways(), key=lambda pathway: pathway.version):
        titles.update({kind: rule.title for kind, rule in pathway.steps.items()})
    return titles
