"""What the engine is given (case facts, steps, history, an event) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracking.pathway.vocabulary import StepStatus


@dataclass(frozen=True)
class StepState:
    id: int
    kind: str
    status: str
    due_at: datetime | None
    laterality: str | None = None
    facility_id: int | None = None
    created_at: datetime | None = None
    target_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return StepStatus(self.status).is_open


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseState:
    """A case as the engine sees it: facts, steps and the events recorded so far."""

    finding_type: str
    laterality: str
    density: str
    birads: str
    status: str
    opened_at: datetime
    disposition: str | None = None
    palpable: bool = False
    steps: tuple[StepState, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    def open_steps(self) -> list[StepState]:
        return [step for step in self.steps if step.is_open]

    def has_completed(self, kind: str) -> bool:
        return any(step.kind == kind and step.status == StepStatus.completed for step in self.steps)


@dataclass(frozen=True)
class OpeningFacts:
    finding_type: str
    laterality: str
    density: str
    birads: str
    facility_ids: tuple[int, ...] = ()
    palpable: bool = False


@dataclass(frozen=True)
class NewEvent:
    kind: str
    data: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class NewStep:
    kind: str
    due_at: datetime
    laterality: str | None = None
    facility_id: int | None = None
    status: str = StepStatus.pending.value
    target_at: datetime | None = None  # a follow-up's target date; due_at is the end of its window


@dataclass(frozen=True)
class StepChange:
    step_id: int
    reason: str = ""


@dataclass
class Decision:
    """What recording the event does. Applying it is the service's job, in one transaction."""

    data: dict[str, Any] = field(default_factory=dict)
    create: list[NewStep] = field(default_factory=list)
    complete: list[StepChange] = field(default_factory=list)
    cancel: list[StepChange] = field(default_factory=list)
    hand_off: list[StepChange] = field(default_factory=list)
    schedule: list[tuple[int, datetime]] = field(default_factory=list)
    unschedule: list[StepChange] = field(default_factory=list)
    birads: str | None = None
    disposition: str | None = None
    clear_disposition: bool = False
    status: str | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the decision, stored with the event and shown to people."""
        return {
            "created": [
                {
                    "kind": step.kind,
                    "due_at": step.due_at.isoformat(),
                    **({"target_at": step.target_at.isoformat()} if step.target_at else {}),
                }
                for step in self.create
            ],
            "completed": [change.step_id for change in self.complete],
            "cancelled": [change.step_id for change in self.cancel],
            "birads": self.birads,
            "disposition": self.disposition,
            "status": self.status,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Refusal:
    """The event is refused; nothing is saved. `guard` is G1..G6 when a safety guard refused it."""

    message: str
    guard: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.guard}: {self.message}" if self.guard else self.message
