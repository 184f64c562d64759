"""Turn rows into what a page shows: words a navigator reads, and a colour that repeats them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracking.pathway.definition import all_step_titles


@dataclass(frozen=True)
class Lateness:
    css: str  # late | soon | later
    text: str


def lateness(due_at: datetime, now: datetime) -> Lateness:
    """'OVERDUE 5 days' in red, 'due in 3 days' in amber, 'due in 20 days' in green: never colour alone."""
    if due_at < now:
        days = (now - due_at).days
        return Lateness("late", "OVERDUE " + ("under a day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"))
    days = (due_at - now).days
    text = "due today" if days == 0 else f"due in {days} day{'s' if days != 1 else ''}"
    return Lateness("soon" if days < 7 else "later", text)


def step_title(pathway, kind: str) -> str:
    """A step's title from its case's pathway, or from any pathway (a list of many cases), or its words."""
    rule = pathway.steps.get(kind) if pathway else None
    if rule is not None:
        return rule.title
    return all_step_titles().get(kind) or kind.replace("_", " ")


def side(laterality: str | None) -> str:
    return {"left": "Left", "right": "Right", "bilateral": "Both"}.get(laterality or "", "")


# Choice values whose words are not just the value with spaces.
CHOICE_WORDS = {"left_message": "left voicemail or message"}


def words(value: object) -> str:
    """A choice value or kind as a navigator reads it."""
    return CHOICE_WORDS.get(str(value), str(value).replace("_", " "))
