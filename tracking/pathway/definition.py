"""The pathway as typed data, validated with errors that name the place in the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tracking.pathway.dates import add_days, add_months
from tracking.pathway.source import Location, PathwaySource, read_source
from tracking.pathway.vocabulary import GUARDS, EventKind, StepKind

FIELD_TYPES = {"text", "integer", "number", "boolean", "datetime", "choice"}
WHEN_CONDITIONS = {"dense", "priors_pending"}
LATERALITY_RULES = {"affected", "bilateral", "other"}
NAMED_ACTIONS = {
    "assessment_outcome",
    "result_letter",
    "routine_screening",
    "short_interval_followup",
    "start_contact_attempts",
    "contact_outcome",
    "lost_to_follow_up",
}
KEYED_ACTIONS = {"create", "cancel", "set_birads", "dispose"}
PATHOLOGY_OUTCOMES = ("malignant", "high_risk_or_discordant", "benign_concordant")
STEP_EVENT_LINKS = ("completes", "cancels", "schedules")


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

    def target_from(self, anchor: datetime) -> datetime | None:
        """A windowed step's target date (the middle of its window), counted from `anchor`; else None."""
        if not self.window_days:
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


@dataclass(frozen=True)
class EscalationRule:
    level_2_after_days: int = 7
    level_3_after_days: int = 14


@dataclass(frozen=True)
class NoShowRule:
    steps: tuple[str, ...] = ()
    attempts: tuple[str, ...] = ("call", "call", "letter")
    wait_after_last_days: int = 14


@dataclass(frozen=True)
class Action:
    """One thing a decision does: `name` is create, set_birads, dispose or a named action."""

    name: str
    value: str | None = None
    laterality: str | None = None
    when: str | None = None


@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRule:
    kind: str
    title: str
    fields: dict[str, FieldRule]
    completes: tuple[str, ...] = ()
    cancels: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    then: tuple[Action, ...] = ()
    outcomes: dict[str, tuple[Action, ...]] = field(default_factory=dict)


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

    def choices(self, vocabulary: str) -> tuple[str, ...]:
        values = self.vocabularies[vocabulary]
        if isinstance(values, dict) and vocabulary == "pathology":
            return tuple(item for group in values.values() for item in group)
        return tuple(values)

    def morphology_concern(self, morphology: str | None) -> str | None:
        return self.vocabularies["morphology"].get(morphology) if morphology else None

    def is_screening(self, step_kind: str) -> bool:
        return self.steps[step_kind].role == "screening"


def load_pathway(path: Path | str) -> Pathway:
    """Read and validate a pathway file; raise PathwayInvalid listing every problem."""
    return build_pathway(read_source(path))


def build_pathway(source: PathwaySource) -> Pathway:
    return _Builder(source).build()


class _Builder:
    def __init__(self, source: PathwaySource):
        self.source = source
        self.problems: list[str] = []

    def problem(self, location: Location, message: str) -> None:
        self.problems.append(f"{self.source.place(location)}: {message}")

    def mapping(self, value: Any, location: Location, what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.problem(location, f"{what} must be a mapping")
        return {}

    def build(self) -> Pathway:
        data = self.mapping(self.source.data, (), "a pathway file")
        for key in ("name", "version", "steps", "events", "on_open", "assessment_outcomes", "vocabularies"):
            if key not in data:
                self.problem((), f"missing required key '{key}'")
        version = data.get("version")
        if "version" in data and (not isinstance(version, int) or version < 1):
            self.problem(("version",), "version must be a whole number of at least 1")
        vocabularies = self.vocabularies(data.get("vocabularies", {}))
        steps = self.steps(data.get("steps", {}))
        surveillance = data.get("surveillance", {}) or {}
        sequence = tuple(surveillance.get("sequence", ()))
        for index, kind in enumerate(sequence):
            self.check_step_ref(kind, steps, ("surveillance", "sequence", index))
        downgrade_to = str(surveillance.get("downgrade_to", "2"))
        birads = set(vocabularies.get("birads", ()))
        if downgrade_to not in birads:
            self.problem(("surveillance", "downgrade_to"), f"'{downgrade_to}' is not a BI-RADS category")
        on_open = self.actions(data.get("on_open", []), ("on_open",), steps)
        outcomes_data = self.mapping(data.get("assessment_outcomes", {}), ("assessment_outcomes",), "outcomes")
        assessment_outcomes = {
            str(category): self.actions(actions, ("assessment_outcomes", str(category)), steps)
            for category, actions in outcomes_data.items()
        }
        for category in sorted(birads - set(assessment_outcomes) - {"6"}):
            self.problem(("assessment_outcomes",), f"no outcome for BI-RADS {category}")
        events = self.events(data.get("events", {}), steps, vocabularies)
        escalation = self.escalation(data.get("escalation", {}))
        no_show = self.no_show(data.get("no_show", {}), steps)
        if self.problems:
            raise PathwayInvalid(self.problems)
        return Pathway(
            name=str(data["name"]),
            version=int(data["version"]),
            title=str(data.get("title", data["name"])),
            finding_types=tuple(data.get("finding_types", ())),
            vocabularies=vocabularies,
            steps=steps,
            on_open=on_open,
            surveillance=sequence,
            downgrade_to=downgrade_to,
            assessment_outcomes=assessment_outcomes,
            events=events,
            escalation=escalation,
            no_show=no_show,
        )

    def whole_number(self, data: dict[str, Any], key: str, where: Location, default: int, minimum: int = 0) -> int:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem((*where, key), f"{key} must be a whole number of at least {minimum}")
            return default
        return value

    def escalation(self, data: Any) -> EscalationRule:
        data = self.mapping(data or {}, ("escalation",), "escalation")
        level_2 = self.whole_number(data, "level_2_after_days", ("escalation",), 7, 1)
        level_3 = self.whole_number(data, "level_3_after_days", ("escalation",), 14, 1)
        if level_3 <= level_2:
            self.problem(("escalation", "level_3_after_days"), "level 3 must come after level 2")
        return EscalationRule(level_2, level_3)

    def no_show(self, data: Any, steps: dict[str, StepRule]) -> NoShowRule:
        data = self.mapping(data or {}, ("no_show",), "no_show")
        kinds = tuple(data.get("steps", ()))
        for index, kind in enumerate(kinds):
            self.check_step_ref(kind, steps, ("no_show", "steps", index))
        attempts = tuple(data.get("attempts", ("call", "call", "letter")))
        if not attempts or any(method not in ("call", "letter") for method in attempts):
            self.problem(("no_show", "attempts"), "attempts must be a non-empty list of 'call' and 'letter'")
        if kinds and StepKind.patient_contact not in steps:
            self.problem(("no_show",), "no_show needs a 'patient_contact' step declared under steps")
        return NoShowRule(
            steps=kinds,
            attempts=attempts,
            wait_after_last_days=self.whole_number(data, "wait_after_last_days", ("no_show",), 14, 1),
        )

    def vocabularies(self, data: Any) -> dict[str, Any]:
        data = self.mapping(data, ("vocabularies",), "vocabularies")
        for required in ("birads", "morphology", "stereotactic_infeasible_reasons", "pathology"):
            if required not in data:
                self.problem(("vocabularies",), f"missing vocabulary '{required}'")
        return {name: values for name, values in data.items()}

    def steps(self, data: Any) -> dict[str, StepRule]:
        data = self.mapping(data, ("steps",), "steps")
        known = {kind.value for kind in StepKind}
        steps: dict[str, StepRule] = {}
        for kind, body in data.items():
            where = ("steps", kind)
            if kind not in known:
                self.problem(where, f"unknown step kind '{kind}' (known kinds: {', '.join(sorted(known))})")
                continue
            body = self.mapping(body, where, f"step '{kind}'")
            due = self.due(body.get("due"), (*where, "due"))
            laterality = body.get("laterality")
            if laterality is not None and laterality not in LATERALITY_RULES:
                self.problem((*where, "laterality"), f"laterality must be one of {sorted(LATERALITY_RULES)}")
            role = body.get("role", "workup")
            if role not in ("workup", "screening"):
                self.problem((*where, "role"), "role must be 'workup' or 'screening'")
            chase = None
            if "chase" in body:
                chase_data = self.mapping(body["chase"], (*where, "chase"), "chase")
                chase = ChaseRule(
                    at_days=tuple(int(day) for day in chase_data.get("at_days", ())),
                    escalate_at_day=int(chase_data.get("escalate_at_day", 0)),
                )
            reminders = self.mapping(body.get("reminders", {}), (*where, "reminders"), "reminders")
            remind = tuple(reminders.get("days_before_target", ()))
            if any(not isinstance(day, int) or day < 1 for day in remind):
                self.problem((*where, "reminders"), "days_before_target must be whole numbers of at least 1")
                remind = ()
            if due is not None:
                steps[kind] = StepRule(
                    remind_days_before_target=remind,
                    kind=kind,
                    title=str(body.get("title", kind)),
                    due=due,
                    laterality=laterality,
                    role=role,
                    per_facility=body.get("per") == "facility",
                    chase=chase,
                )
        return steps

    def due(self, data: Any, where: Location) -> DueRule | None:
        if data is None:
            self.problem(where[:-1], "missing due rule: every step needs 'due' with days and/or months")
            return None
        data = self.mapping(data, where, "a due rule")
        numbers = {}
        for key in ("days", "months", "window_days"):
            value = data.get(key, 0)
            if not isinstance(value, int) or value < 0:
                self.problem((*where, key), f"{key} must be a whole number of 0 or more")
                value = 0
            numbers[key] = value
        if numbers["days"] == 0 and numbers["months"] == 0:
            self.problem(where, "a due rule needs days or months greater than 0")
            return None
        by_birads = {str(k): int(v) for k, v in (data.get("by_birads") or {}).items()}
        return DueRule(by_birads=by_birads, **numbers)

    def check_step_ref(self, kind: Any, steps: dict[str, StepRule], where: Location) -> bool:
        if kind in steps:
            return True
        self.problem(where, f"refers to step '{kind}', which is not declared under steps")
        return False

    def actions(self, data: Any, where: Location, steps: dict[str, StepRule]) -> tuple[Action, ...]:
        if not isinstance(data, list):
            self.problem(where, "must be a list of actions")
            return ()
        actions = []
        for index, item in enumerate(data):
            here = (*where, index)
            if isinstance(item, str):
                if item not in NAMED_ACTIONS:
                    self.problem(here, f"unknown action '{item}' (known: {', '.join(sorted(NAMED_ACTIONS))})")
                    continue
                actions.append(Action(name=item))
                continue
            item = self.mapping(item, here, "an action")
            keys = set(item) & KEYED_ACTIONS
            if len(keys) != 1:
                self.problem(here, f"an action needs exactly one of {sorted(KEYED_ACTIONS)}")
                continue
            name = keys.pop()
            value = str(item[name])
            if name in ("create", "cancel") and not self.check_step_ref(value, steps, (*here, name)):
                continue
            when = item.get("when")
            if when is not None and when not in WHEN_CONDITIONS:
                self.problem((*here, "when"), f"unknown condition '{when}' (known: {sorted(WHEN_CONDITIONS)})")
            actions.append(Action(name=name, value=value, laterality=item.get("laterality"), when=when))
        return tuple(actions)

    def events(self, data: Any, steps: dict[str, StepRule], vocabularies: dict[str, Any]) -> dict[str, EventRule]:
        data = self.mapping(data, ("events",), "events")
        known = {kind.value for kind in EventKind} - {EventKind.case_opened.value}
        events = {}
        for kind, body in data.items():
            where = ("events", kind)
            if kind not in known:
                self.problem(where, f"unknown event kind '{kind}' (known kinds: {', '.join(sorted(known))})")
                continue
            body = self.mapping(body, where, f"event '{kind}'")
            links = {}
            for link in STEP_EVENT_LINKS:
                value = body.get(link, [])
                kinds = tuple(value if isinstance(value, list) else [value])
                for index, step_kind in enumerate(kinds):
                    self.check_step_ref(
                        step_kind, steps, (*where, link, index) if isinstance(value, list) else (*where, link)
                    )
                links[link] = kinds
            guards = tuple(body.get("guards", ()))
            for index, guard in enumerate(guards):
                if guard not in GUARDS:
                    self.problem((*where, "guards", index), f"unknown guard '{guard}' (known: {', '.join(GUARDS)})")
            outcomes = {}
            if "outcomes" in body:
                outcome_data = self.mapping(body["outcomes"], (*where, "outcomes"), "outcomes")
                for outcome in PATHOLOGY_OUTCOMES:
                    if outcome not in outcome_data:
                        self.problem((*where, "outcomes"), f"missing outcome '{outcome}'")
                outcomes = {
                    name: self.actions(actions, (*where, "outcomes", name), steps)
                    for name, actions in outcome_data.items()
                }
            events[kind] = EventRule(
                kind=kind,
                title=str(body.get("title", kind)),
                fields=self.fields(body.get("fields", {}), (*where, "fields"), vocabularies),
                guards=guards,
                then=self.actions(body.get("then", []), (*where, "then"), steps),
                outcomes=outcomes,
                **links,
            )
        return events

    def fields(self, data: Any, where: Location, vocabularies: dict[str, Any]) -> dict[str, FieldRule]:
        data = self.mapping(data, where, "fields")
        fields = {}
        for name, body in data.items():
            body = self.mapping(body, (*where, name), f"field '{name}'")
            kind = body.get("type")
            if not isinstance(kind, str) or (kind not in FIELD_TYPES and kind not in vocabularies):
                self.problem((*where, name, "type"), f"unknown field type '{kind}'")
                continue
            choices = tuple(str(choice) for choice in body.get("choices", ()))
            if kind == "choice" and not choices:
                self.problem((*where, name), "a choice field needs 'choices'")
            fields[name] = FieldRule(name=name, type=kind, required=bool(body.get("required")), choices=choices)
        return fields


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
