"""The pathway's checks (its safety guards G1-G6 among them), as the file declares them.

Each check names the events it applies to, a condition (`when`, `unless`) and what follows when
the condition holds: `refuse` (nothing is saved), `flag` (a warning recorded with the event), or
`reason_field` (refused without that field; with it, flagged and accepted). Messages may quote
`{breast}`, `{vocabulary.<name>}` (its entries) and any condition subject (`{birads}`,
`{case.birads}`, `{recorded.morphology}`, `{contact.attempts_made}`), in words.
"""

from __future__ import annotations

import re

from tracking.pathway.conditions import Context, holds, subject_value
from tracking.pathway.decision import CaseState, Refusal
from tracking.pathway.definition import Check, EventRule
from tracking.pathway.fields import FieldRefused


def breast(case: CaseState) -> str:
    return "both breasts" if case.laterality == "bilateral" else f"the {case.laterality} breast"


def run_checks(rule: EventRule, context: Context, warnings: list[str], *, before_fields: bool) -> None:
    """Apply the checks of `rule` judged at this stage; raise FieldRefused on a refusal."""
    for check in context.pathway.checks:
        if rule.kind not in check.events or check.before_fields != before_fields:
            continue
        if not holds(check.when, context) or (check.unless is not None and holds(check.unless, context)):
            continue
        if check.reason_field is not None:
            if context.data.get(check.reason_field) not in (None, ""):
                if check.flag:
                    warnings.append(_words(check.flag, context))
                continue
            raise _refusal(check, context, check.field or check.reason_field)
        if check.refuse:
            raise _refusal(check, context, check.field)
        if check.flag:
            warnings.append(_words(check.flag, context))


def _refusal(check: Check, context: Context, field: str | None) -> FieldRefused:
    return FieldRefused(Refusal(_words(check.refuse or "", context), guard=check.guard, field=field))


PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_.]*)\}")


def _word(key: str, context: Context) -> str:
    if key == "breast":
        return breast(context.case)
    if key.startswith("vocabulary."):
        entries = context.pathway.vocabularies[key.removeprefix("vocabulary.")]
        if isinstance(entries, dict):
            return "; ".join(f"{name} ({text})" for name, text in entries.items())
        return ", ".join(str(entry) for entry in entries)
    value = subject_value(key, context)
    return "" if value is None else str(value).replace("_", " ")


def _words(template: str, context: Context) -> str:
    return PLACEHOLDER.sub(lambda match: _word(match.group(1), context), template)
