"""The shape of a pathway file, as pydantic models: unknown keys, wrong types and missing keys are
refused here, each named with its file line (`schema_problems`). Cross-references (a step an
action names, a field a check reads) are checked afterwards by the builder in definition.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tracking.pathway.source import Location, PathwaySource

Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Days = Annotated[int, Field(ge=0, strict=True)]
PositiveDays = Annotated[int, Field(ge=1, strict=True)]
Condition = dict[str, Any]  # checked by definition._Builder.condition: subjects and tests
ActionList = list[Any]  # a name, or a mapping with one of create/cancel/set_birads/dispose/warn


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DueSpec(Spec):
    days: Days = 0
    months: Days = 0
    window_days: Days = 0  # a follow-up's window: due (overdue) this many days after its target date
    by_birads: dict[str, PositiveDays] = {}


class ChaseSpec(Spec):
    at_days: list[PositiveDays] = []
    escalate_at_day: Days = 0


class RemindersSpec(Spec):
    days_before_target: list[PositiveDays] = []


class StepSpec(Spec):
    title: str
    due: DueSpec | None = None
    laterality: Literal["affected", "bilateral", "other"] | None = None
    role: Literal["workup", "screening"] = "workup"
    per: Literal["facility"] | None = None
    chase: ChaseSpec | None = None
    reminders: RemindersSpec = RemindersSpec()
    repeatable: bool = False  # several may be open at once (a result letter per assessment)


class FieldSpec(Spec):
    type: str
    required: bool = False
    choices: list[str | int] = []
    within: str | None = None  # the value must belong to the group this other field names (pathology)
    future_unless: str | None = None  # a moment before now is refused unless this boolean field is true


class StepFromSpec(Spec):
    """Which step an event targets, from one of its fields (procedure -> the biopsy step)."""

    field: str
    steps: dict[str, Kind]


class OutcomeSpec(Spec):
    when: Condition | None = None
    then: ActionList


class EventSpec(Spec):
    title: str
    fields: dict[str, FieldSpec] = {}
    completes: Kind | list[Kind] = []
    cancels: Kind | list[Kind] = []
    schedules: Kind | list[Kind] = []
    step_from: StepFromSpec | None = None
    then: ActionList = []
    outcomes: list[OutcomeSpec] = []
    recorded_by: list[Literal["navigator", "radiologist"]] = ["navigator"]
    brings_back: bool | Condition = False  # a lost patient is back when this event (so) is recorded
    on_closed_case: bool = False  # may be recorded on a closed case (screening handed off at closure)
    # Completes one of `completes` when one is open; with none open it is still recorded (a call
    # logged whenever it happens), and completes nothing.
    completes_when_open: bool = False


class CheckSpec(Spec):
    guard: str | None = None
    events: list[Kind]
    before_fields: bool = False  # judged on the data as given, so its refusal wins over "field missing"
    when: Condition | None = None
    unless: Condition | None = None
    refuse: str | None = None
    flag: str | None = None
    reason_field: str | None = None  # refused without this field; with it, flagged and accepted
    field: str | None = None  # the form field a refusal points at


class EscalationSpec(Spec):
    level_2_after_days: PositiveDays = 7
    level_3_after_days: PositiveDays = 14


class NoShowSpec(Spec):
    steps: list[Kind] = []
    attempts: list[Literal["call", "letter"]] = Field(default=["call", "call", "letter"], min_length=1)
    wait_after_last_days: PositiveDays = 14
    contact_step: Kind = "patient_contact"
    recontact_step: Kind | None = None  # the dated item a lost case keeps: another try, on its due rule
    on_lost: ActionList = []
    on_return: ActionList = []


class SurveillanceSpec(Spec):
    sequence: list[Kind] = []
    downgrade_to: str = "2"
    stable_when: Condition | None = None


class DiagnosisMilestoneSpec(Spec):
    events: list[Kind] = []
    assessment_events: list[Kind] = []
    birads: list[str] = []


class TimelinessSpec(Spec):
    diagnostic_imaging: list[Kind] = []
    biopsy: list[Kind] = []
    diagnosis: DiagnosisMilestoneSpec = DiagnosisMilestoneSpec()


class PathwayFile(Spec):
    name: Kind
    version: PositiveDays
    title: str | None = None
    finding_types: list[Kind]
    vocabularies: dict[str, list[str | int] | dict[str, Any]]
    guards: dict[str, str] = {}
    escalation: EscalationSpec = EscalationSpec()
    no_show: NoShowSpec = NoShowSpec()
    steps: dict[Kind, StepSpec]
    on_open: ActionList
    surveillance: SurveillanceSpec = SurveillanceSpec()
    final_assessment_step: Kind | None = None  # completed by any complete (non-0) assessment
    recorded_findings_reset_by: list[Kind] = []  # `recorded.<field>` looks back no further than these
    assessment_outcomes: dict[str, ActionList]
    events: dict[Kind, EventSpec]
    checks: list[CheckSpec] = []
    timeliness: TimelinessSpec = TimelinessSpec()


def validate_file(source: PathwaySource) -> tuple[PathwayFile | None, list[str]]:
    """The file as a PathwayFile, or the problems that stop it, each as `file:line: place: what`."""
    try:
        return PathwayFile.model_validate(source.data), []
    except ValidationError as invalid:
        return None, located_problems(source, invalid)


def located_problems(source: PathwaySource, invalid: ValidationError) -> list[str]:
    """Each of a validation error's problems as `file:line: place: what` (any YAML file read by read_source)."""
    return [_problem(source, error) for error in invalid.errors()]


def _problem(source: PathwaySource, error: Any) -> str:
    location = _data_location(source.data, tuple(error["loc"]))
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return f"{source.place(location[:-1])}: missing required key '{location[-1]}'"
    if kind == "extra_forbidden":
        return f"{source.place(location)}: unknown key '{location[-1]}'"
    context = error.get("ctx") or {}
    if kind == "greater_than_equal":
        message = f"must be a whole number of at least {context['ge']}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message = "must be a whole number"
    elif kind == "string_pattern_mismatch":
        message = "must be lower-case letters, digits and underscores, starting with a letter"
    return f"{source.place(location)}: {message[0].lower()}{message[1:]}"


def _data_location(data: Any, loc: Location) -> Location:
    """Pydantic's error location without its union and validator tags: the path in the file."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_file = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if in_file:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.isidentifier() and part[0].islower():
            path.append(part)  # a key the file lacks (missing) names itself
            node = None
    return tuple(path)
