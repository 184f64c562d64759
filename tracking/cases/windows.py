"""A step's window: its target date, when the window opens and when it closes, in words.

A step whose pathway due rule has `window_days` (the 6-, 12- and 24-month follow-ups, annual
screening) carries `target_at`; its `due_at` is the end of the window, and the step is overdue
only from then on.
The window is therefore [target_at - window_days, due_at] with window_days = due_at - target_at.
A step without a window has `target_at` NULL, and no target, opening or closing is shown for it.

This is the one place a window is worked out and written down: `workup case show`, `workup
overdue` and `workup worklist`, the API (/api/cases/{id}, /api/overdue) and the case and
worklist pages all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Windowed(Protocol):
    """Anything with a step's due and target moments: a Step row, a worklist StepDue."""

    @property
    def due_at(self) -> datetime: ...

    @property
    def target_at(self) -> datetime | None: ...


# The JSON (and CSV) fields of a step's window; null for a step without one.
WINDOW_FIELDS = ("target_at", "window_opens_at", "window_closes_at")


@dataclass(frozen=True)
class Window:
    target_at: datetime
    opens_at: datetime
    closes_at: datetime  # the step's due_at: overdue after this

    @property
    def phrase(self) -> str:
        """'target 2027-05-26 (window 2027-04-26 to 2027-06-25)'."""
        return f"target {self.target_at:%Y-%m-%d} (window {self.opens_at:%Y-%m-%d} to {self.closes_at:%Y-%m-%d})"


def window(target_at: datetime | None, due_at: datetime) -> Window | None:
    """The window around `target_at` that closes at `due_at`; None without a target."""
    if target_at is None:
        return None
    return Window(target_at=target_at, opens_at=target_at - (due_at - target_at), closes_at=due_at)


def step_window(step: Windowed) -> Window | None:
    """A step's window, or None for a step without one."""
    return window(step.target_at, step.due_at)


def window_fields(step: Windowed) -> dict[str, Any]:
    """`target_at`, `window_opens_at` and `window_closes_at` in ISO 8601; each None without a window."""
    found = step_window(step)
    if found is None:
        return dict.fromkeys(WINDOW_FIELDS)
    moments = (found.target_at, found.opens_at, found.closes_at)
    return {name: moment.isoformat() for name, moment in zip(WINDOW_FIELDS, moments, strict=True)}


def due_text(step: Windowed) -> str:
    """A step's Due cell: its window in words for a follow-up, else the day it is due."""
    found = step_window(step)
    return found.phrase if found else f"{step.due_at:%Y-%m-%d}"


def step_json(step: Any) -> dict[str, Any]:
    """A Step row as JSON-ready data with its window fields: what the CLI and the API show of a case's steps."""
    return {**step.model_dump(), **window_fields(step)}
