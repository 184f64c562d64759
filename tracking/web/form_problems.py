"""What a refused form says: one message per field, in the clinic's words, for the error summary.

A page form names its fields with ids; pydantic names them by `loc`. `Problems` keeps the first
message for each field id in the order found; `validation_problems` turns a ValidationError into
messages for the ids the caller maps each `loc` to (templates/problem_macros.html shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

Loc = tuple[int | str, ...]


class Problems(dict[str, str]):
    """Field id → message; the first message for a field wins."""

    def add(self, field_id: str, message: str) -> None:
        self.setdefault(field_id, message)

    def in_order(self, order: list[str]) -> list[tuple[str, str]]:
        """(field id, message) in the order the fields appear on the page; unknown ids last."""
        rank = {field_id: index for index, field_id in enumerate(order)}
        return sorted(self.items(), key=lambda item: rank.get(item[0], len(rank)))


def sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def message_for(error: Any, label: str, *, chosen: bool = False) -> str:
    """One pydantic error as a sentence about the field called `label` (`chosen`: picked from a list)."""
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return f"Choose the {label}" if chosen else f"Enter the {label}"
    if kind == "string_too_short":
        return f"The {label} must be at least {context.get('min_length')} characters"
    if kind in ("string_too_long", "too_long"):
        limit = context.get("max_length")
        unit = "characters" if kind == "string_too_long" or isinstance(error.get("input"), str) else "entries"
        return f"The {label} must be {limit} {unit} or fewer"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"The {label} must be a real date, for example 1968-04-12"
    if kind in ("enum", "literal_error"):
        return f"Choose the {label} from the list"
    if kind == "string_pattern_mismatch":
        return f"The {label} has characters that are not allowed"
    if kind == "bool_parsing":
        return f"Choose yes or no for the {label}"
    text = str(error.get("msg", "is not valid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    if text.startswith(("must ", "is ", "has ")):
        text = f"the {label} {text}"
    return sentence(text)


def validation_problems(
    problems: Problems,
    error: ValidationError,
    field_for: Callable[[Loc], str],
    label_for: Callable[[str], str],
    chosen: Callable[[str], bool] = lambda field_id: False,
) -> None:
    """Add a message for each of the error's problems, on the field `field_for(loc)` names."""
    for item in error.errors():
        field_id = field_for(tuple(item["loc"]))
        problems.add(field_id, message_for(item, label_for(field_id), chosen=chosen(field_id)))
