"""The site's HL7 mapping (config/interfaces/hl7.yaml, or WORKUP_HL7_MAPPING): senders, the MRN's
assigning authority, message types, procedure codes to pathway steps, OBX codes to event fields.

The file's shape is checked by the pydantic models below and what it names (step kinds, event
fields, BI-RADS categories) against the pathway files; every problem is reported as `file:line`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tracking.pathway.definition import all_pathways
from tracking.pathway.schema import located_problems
from tracking.pathway.source import Location, PathwaySource, parse_source

# Message types the interpreter has a handler for (tracking/hl7/interpret.py).
HANDLED_TYPES = (
    "ORM^O01",
    "OMI^O23",
    "ORU^R01",
    "SIU^S12",
    "SIU^S13",
    "SIU^S14",
    "SIU^S15",
    "SIU^S26",
    "ADT^A08",
    "ADT^A31",
    "ADT^A40",
)
BIRADS_CATEGORIES = ("0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6")
DENSITIES = ("a", "b", "c", "d")

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Side = Literal["left", "right", "bilateral"]


class MappingInvalid(ValueError):
    """The mapping file breaks the rules; `problems` lists each as `file:line: place: what`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatientIdentifierSpec(Spec):
    assigning_authorities: list[Code] = Field(min_length=1)
    identifier_types: list[Code] = []


class ProcedureSpec(Spec):
    title: str = Field(min_length=1, max_length=200)
    steps: list[Kind] = Field(min_length=1)
    diagnostic: bool = False
    review: str | None = Field(default=None, min_length=1, max_length=500)
    fields: dict[Kind, str] = {}
    laterality: Side | None = None


class ObservationSpec(Spec):
    identifiers: list[Code] = []
    values: dict[str, str] = {}


class ReportSpec(Spec):
    identifiers: list[Code] = []
    value_types: list[Code] = []
    into_fields: list[Kind] = []


class MappingFile(Spec):
    senders: list[Code] = Field(min_length=1)
    message_types: list[Code] = Field(min_length=1)
    patient_identifier: PatientIdentifierSpec
    results_need_order: bool = True
    corrected_result_event: Kind | None = None
    laterality_modifiers: dict[str, Side] = {}
    procedures: dict[str, ProcedureSpec]
    birads: ObservationSpec
    density: ObservationSpec = ObservationSpec()
    fields: dict[Kind, ObservationSpec] = {}
    report: ReportSpec = ReportSpec()
    languages: dict[str, str] = {}


def code(value: str) -> str:
    """How codes are compared: without surrounding spaces, upper case."""
    return value.strip().upper()


@dataclass(frozen=True)
class Procedure:
    code: str
    title: str
    steps: tuple[str, ...]
    diagnostic: bool
    review: str | None
    fields: dict[str, str]
    laterality: str | None


@dataclass(frozen=True)
class Observation:
    identifiers: frozenset[str]
    values: dict[str, str]  # code or word (upper case) -> the pathway's value

    def value(self, coded: str) -> str | None:
        """The pathway's value for an OBX value; a listed identifier without `values` passes it on."""
        if not self.values:
            return coded.strip() or None
        return self.values.get(code(coded))


@dataclass(frozen=True)
class Mapping:
    senders: frozenset[str]
    message_types: frozenset[str]
    authorities: frozenset[str]
    identifier_types: frozenset[str]
    results_need_order: bool
    corrected_result_event: str | None
    laterality_modifiers: dict[str, str]
    procedures: dict[str, Procedure]
    birads: Observation
    density: Observation
    fields: dict[str, Observation]
    report_identifiers: frozenset[str]
    report_value_types: frozenset[str]
    report_into_fields: tuple[str, ...]
    languages: dict[str, str] = field(default_factory=dict)

    def procedure(self, *codes: str) -> Procedure | None:
        """The first of `codes` the mapping knows (OBR-4 identifier, its alternate, OBR-44, ...)."""
        for candidate in codes:
            base = code(candidate)
            found = self.procedures.get(base) or self.procedures.get(_without_modifier(base, self))
            if found is not None:
                return found
        return None

    def modifier_side(self, *codes: str) -> str | None:
        """The side a CPT modifier names ("77065-LT", or "LT" alone in OBR-46)."""
        for candidate in codes:
            value = code(candidate)
            for modifier, side in self.laterality_modifiers.items():
                if value == modifier or value.endswith(f"-{modifier}") or value.endswith(f" {modifier}"):
                    return side
        return None

    def language(self, value: str) -> str:
        return self.languages.get(code(value), value.strip().lower())


def _without_modifier(value: str, mapping: Mapping) -> str:
    for modifier in mapping.laterality_modifiers:
        for joiner in ("-", " "):
            if value.endswith(f"{joiner}{modifier}"):
                return value[: -len(modifier) - 1]
    return value


def read_mapping(path: Path | str) -> Mapping:
    """Read and check a mapping file; MappingInvalid lists every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MappingInvalid([f"{path}: cannot read the HL7 mapping file ({error.strerror})"]) from None
    try:
        source = parse_source(text, str(path))
    except ValueError as error:  # PathwayFileError: not YAML, with its line
        raise MappingInvalid([str(error)]) from None
    try:
        spec = MappingFile.model_validate(source.data)
    except ValidationError as invalid:
        raise MappingInvalid(located_problems(source, invalid)) from None
    return _Checker(source, spec).build()


class _Checker:
    """What the file names must exist: step kinds and event fields in some pathway file."""

    def __init__(self, source: PathwaySource, spec: MappingFile):
        self.source = source
        self.spec = spec
        self.problems: list[str] = []
        pathways = all_pathways()
        self.steps = {kind for pathway in pathways for kind in pathway.steps}
        self.fields = {name for pathway in pathways for rule in pathway.events.values() for name in rule.fields}
        self.events = {kind for pathway in pathways for kind in pathway.events}

    def problem(self, where: Location, message: str) -> None:
        self.problems.append(f"{self.source.place(where)}: {message}")

    def build(self) -> Mapping:
        spec = self.spec
        for index, kind in enumerate(spec.message_types):
            if code(kind) not in HANDLED_TYPES:
                self.problem(("message_types", index), f"no handler for {kind} (handled: {', '.join(HANDLED_TYPES)})")
        procedures = {}
        for key, body in spec.procedures.items():
            for index, kind in enumerate(body.steps):
                if kind not in self.steps:
                    self.problem(("procedures", key, "steps", index), f"no pathway has a step '{kind}'")
            for name in body.fields:
                if name not in self.fields:
                    self.problem(("procedures", key, "fields", name), f"no pathway event has a field '{name}'")
            if code(key) in procedures:
                self.problem(("procedures", key), f"procedure code {key} is listed twice")
            procedures[code(key)] = Procedure(
                code(key),
                body.title,
                tuple(body.steps),
                body.diagnostic,
                body.review,
                dict(body.fields),
                body.laterality,
            )
        birads = self.observation(spec.birads, ("birads",), BIRADS_CATEGORIES)
        density = self.observation(spec.density, ("density",), DENSITIES)
        fields = {}
        for name, body in spec.fields.items():
            if name not in self.fields:
                self.problem(("fields", name), f"no pathway event has a field '{name}'")
            fields[name] = self.observation(body, ("fields", name), None)
        for index, name in enumerate(spec.report.into_fields):
            if name not in self.fields:
                self.problem(("report", "into_fields", index), f"no pathway event has a field '{name}'")
        self.check_identifiers_unique(birads, density, fields)
        if spec.corrected_result_event is not None and spec.corrected_result_event not in self.events:
            self.problem(("corrected_result_event",), f"no pathway has an event '{spec.corrected_result_event}'")
        if self.problems:
            raise MappingInvalid(self.problems)
        return Mapping(
            senders=frozenset(code(sender) for sender in spec.senders),
            message_types=frozenset(code(kind) for kind in spec.message_types),
            authorities=frozenset(code(value) for value in spec.patient_identifier.assigning_authorities),
            identifier_types=frozenset(code(value) for value in spec.patient_identifier.identifier_types),
            results_need_order=spec.results_need_order,
            corrected_result_event=spec.corrected_result_event,
            laterality_modifiers={code(key): side for key, side in spec.laterality_modifiers.items()},
            procedures=procedures,
            birads=birads,
            density=density,
            fields=fields,
            report_identifiers=frozenset(code(value) for value in spec.report.identifiers),
            report_value_types=frozenset(code(value) for value in spec.report.value_types),
            report_into_fields=tuple(spec.report.into_fields),
            languages={code(key): value.strip().lower() for key, value in spec.languages.items()},
        )

    def observation(self, body: ObservationSpec, where: Location, allowed: tuple[str, ...] | None) -> Observation:
        values = {}
        for key, value in body.values.items():
            if allowed is not None and value not in allowed:
                self.problem((*where, "values", key), f"'{value}' is not one of {', '.join(allowed)}")
            values[code(key)] = value
        return Observation(frozenset(code(value) for value in body.identifiers), values)

    def check_identifiers_unique(
        self, birads: Observation, density: Observation, fields: dict[str, Observation]
    ) -> None:
        seen: dict[str, str] = {}
        named = [("birads", birads), ("density", density), *((f"fields.{name}", rule) for name, rule in fields.items())]
        for name, rule in named:
            for identifier in sorted(rule.identifiers):
                if identifier in seen:
                    where = ("fields", name.split(".", 1)[1]) if name.startswith("fields.") else (name,)
                    self.problem(
                        (*where, "identifiers"), f"OBX identifier {identifier} is already read as {seen[identifier]}"
                    )
                seen[identifier] = name


@lru_cache(maxsize=4)
def _cached(path: Path, modified: float) -> Mapping:
    return read_mapping(path)


def current_mapping() -> Mapping:
    """The mapping named by WORKUP_HL7_MAPPING (default config/interfaces/hl7.yaml), re-read when it changes."""
    from tracking.settings import get_settings

    path = Path(get_settings().hl7_mapping)
    try:
        modified = path.stat().st_mtime
    except OSError as error:
        raise MappingInvalid([f"{path}: cannot read the HL7 mapping file ({error.strerror})"]) from None
    return _cached(path, modified)
