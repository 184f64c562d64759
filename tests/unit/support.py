"""Helpers shared by the pure engine tests: record an event and insist on acceptance or refusal."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import MemoryCase
from tracking.pathway.decision import Decision, Refusal, StepState

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def days(n: int) -> timedelta:
    return timedelta(days=n)


def accept(case: MemoryCase, kind: str, data: dict[str, Any], at: datetime) -> Decision:
    result = case.record(kind, data, at)
    assert isinstance(result, Decision), f"{kind} {data} was refused: {result}"
    return result


def refuse(case: MemoryCase, kind: str, data: Any, at: datetime, now: datetime | None = None) -> Refusal:
    """Record an event that must be refused, and check the refusal changed nothing."""
    before = copy.deepcopy(case.state)
    sent = copy.deepcopy(data)
    result = case.record(kind, data, at, now)
    assert isinstance(result, Refusal), f"{kind} {data} was accepted: {result}"
    assert case.state == before, "a refused event changed the case"
    assert data == sent, "the engine changed the event data it was given"
    return result


def open_rows(case: MemoryCase) -> list[tuple[str, str | None, int | None, datetime]]:
    """(kind, laterality, facility, due) of every open step, sorted."""
    rows = [(s.kind, s.laterality, s.facility_id, s.due_at) for s in case.state.steps if s.is_open]
    return sorted(rows, key=lambda row: (row[0], row[1] or "", row[2] or 0, row[3]))


def steps_of(case: MemoryCase, kind: str) -> list[StepState]:
    return [step for step in case.state.steps if step.kind == kind]


def step(case: MemoryCase, step_id: int) -> StepState:
    (found,) = [s for s in case.state.steps if s.id == step_id]
    return found


def at_time(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)
