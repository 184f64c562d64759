"""What a result message says, read through the mapping: the exam (OBR-4), its time (OBR-7), its
status (OBR-25), the accession number (OBR-3 / ORC-3), and the OBX observations as values for the
pathway's fields (BI-RADS by SNOMED CT or local code, density, other coded fields) and the report's
words (where a BI-RADS category named only in the text is a suggestion, never a value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import hl7

from tracking.hl7.context import Context
from tracking.hl7.impression import birads_in_text
from tracking.hl7.mapping import BIRADS_CATEGORIES, DENSITIES, Procedure, code

CODED_TYPES = ("CWE", "CE", "CNE", "CF", "CX")
REPORT_TEXT_MAX = 4000


@dataclass
class Exam:
    """The exam an OBR (or AIS) names."""

    codes: list[str]
    procedure: Procedure | None
    side: str | None
    accession: str

    @property
    def code(self) -> str:
        return self.codes[0] if self.codes else ""

    def describe(self) -> dict[str, Any]:
        return {
            "procedure_code": self.code[:40],
            "procedure": self.procedure.title if self.procedure else None,
            "accession": self.accession or None,
            "side": self.side,
            "step_kinds": list(self.procedure.steps) if self.procedure else [],
        }


@dataclass
class Findings:
    """The OBX observations of one result, read through the mapping."""

    birads: list[str] = field(default_factory=list)  # coded categories, distinct
    birads_in_text: list[str] = field(default_factory=list)  # named in the report's words only
    density: list[str] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""
    problems: list[str] = field(default_factory=list)  # codes the mapping does not know, and the like


def read_exam(
    context: Context,
    segment: hl7.Segment | None,
    *,
    service_field: int = 4,
    accession_fields: tuple[tuple[str, int], ...] = (),
) -> Exam:
    """The procedure code (identifier, alternate identifier; OBR-44 too for an OBR), the side
    (the code's own, else a CPT modifier on the code or in OBR-46) and the accession number."""
    reader, mapping = context.reader, context.mapping
    codes = [reader.value(segment, service_field, 1), reader.value(segment, service_field, 4)]
    is_obr = segment is not None and str(segment[0]) == "OBR"
    if is_obr:
        codes.append(reader.value(segment, 44, 1))
    codes = [value for value in codes if value]
    procedure = mapping.procedure(*codes)
    modifiers = [parts[0] for parts in reader.repetitions(segment, 46)] if is_obr else []
    side = (procedure.laterality if procedure else None) or mapping.modifier_side(*codes, *modifiers)
    accession = ""
    for name, number in accession_fields:
        accession = reader.value(segment if name == "" else reader.first(name), number, 1)
        if accession:
            break
    return Exam(codes, procedure, side, accession[:200])


def read_findings(context: Context, segments: list[hl7.Segment]) -> Findings:
    reader, mapping = context.reader, context.mapping
    found = Findings()
    claimed = mapping.birads.identifiers | mapping.density.identifiers
    for rule in mapping.fields.values():
        claimed |= rule.identifiers
    texts: list[str] = []
    for obx in segments:
        kind = code(reader.value(obx, 2, 1))
        identifier = code(reader.value(obx, 3, 1))
        alternate = code(reader.value(obx, 3, 4))
        names = {identifier, alternate} - {""}
        values = reader.repetitions(obx, 5)
        coded = [code(parts[0]) for parts in values if parts and parts[0].strip()]
        words = [code(parts[1]) for parts in values if len(parts) > 1 and parts[1].strip()]
        snomed = [mapping.birads.values[value] for value in coded if value in mapping.birads.values]
        if snomed:
            _add(found.birads, *snomed)
        elif names & mapping.birads.identifiers:
            _add_mapped(
                found.birads, found.problems, "BI-RADS", coded + words, mapping.birads.values, BIRADS_CATEGORIES
            )
        elif names & mapping.density.identifiers:
            _add_mapped(found.density, found.problems, "density", coded + words, mapping.density.values, DENSITIES)
        else:
            field_name = next((name for name, rule in mapping.fields.items() if names & rule.identifiers), None)
            if field_name is not None:
                value = _field_value(mapping.fields[field_name], kind, values, reader.text(obx, 5))
                if value is None:
                    found.problems.append(f"the {field_name.replace('_', ' ')} code in OBX {identifier} is not mapped")
                else:
                    _add(found.fields.setdefault(field_name, []), value)
            elif (names & mapping.report_identifiers or kind in mapping.report_value_types) and not names & claimed:
                text = reader.text(obx, 5)
                if text:
                    texts.append(text)
    found.text = "\n".join(texts)[:REPORT_TEXT_MAX]
    found.birads_in_text = birads_in_text(found.text)
    return found


def _field_value(rule: Any, kind: str, values: list[list[str]], text: str) -> str | None:
    if not values:
        return None
    if kind in CODED_TYPES:
        first = values[0]
        return rule.value(first[0]) or (rule.value(first[1]) if len(first) > 1 else None)
    return rule.value(text)


def _add(into: list[str], *values: str) -> None:
    for value in values:
        if value not in into:
            into.append(value)


def _add_mapped(
    into: list[str],
    problems: list[str],
    what: str,
    candidates: list[str],
    values: dict[str, str],
    allowed: tuple[str, ...],
) -> None:
    """A coded value through the mapping's `values`, or a value that already is one (a category "4B")."""
    for candidate in candidates:
        mapped = values.get(candidate)
        if mapped is None:
            plain = candidate.lower() if allowed == DENSITIES else candidate
            mapped = plain if plain in allowed else None
        if mapped is not None:
            _add(into, mapped)
            return
    shown = ", ".join(value[:20] for value in candidates) or "no value"
    problems.append(f"the {what} code ({shown}) is not in the mapping")


def result_time(
    context: Context, obr: hl7.Segment | None, observations: list[hl7.Segment]
) -> tuple[datetime | None, str | None]:
    """When the exam was done: OBR-7, else the first OBX-14; None when neither is given."""
    value = context.reader.value(obr, 7, 1)
    if value:
        return context.moment(value, "the exam time (OBR-7)")
    for obx in observations:
        value = context.reader.value(obx, 14, 1)
        if value:
            return context.moment(value, "the observation time (OBX-14)")
    return None, None
