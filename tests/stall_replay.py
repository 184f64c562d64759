"""Cut a case that breaks the invariant down to the fewest of its own events that still break it.

Hypothesis would shrink a whole walk (every case, job run and refused request), replaying it on
PostgreSQL hundreds of times. The engine decides from a case's own steps and events only, so the
failing case's recorded events (the ones the reminder jobs recorded included) are replayed instead
on a fresh case through `open_case` and `record_event`, at their own times, followed by the runner
and one sweep a day after the last event, each replay in a savepoint that is rolled back; delta
debugging (ddmin) keeps the smallest subsequence that still breaks the invariant the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from tests.stall_checks import finish_run_requests, invariant_violations
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.errors import WorkupError
from tracking.cases.opening import CaseOpening, FacilityRef, open_case
from tracking.cases.recording import record_event
from tracking.settings import Settings

MAX_REPLAYS = 150


@dataclass(frozen=True)
class Recorded:
    kind: str
    payload: Any
    occurred_at: datetime
    recorded_at: datetime
    actor: str


@dataclass(frozen=True)
class Story:
    """A case as it was opened, and the events recorded on it since, in order."""

    opening: dict[str, Any]
    facilities: tuple[str, ...]
    opened_at: datetime
    events: tuple[Recorded, ...]


def case_story(session: Session, case_id: int) -> Story:
    rows = session.execute(
        text("SELECT kind, payload, occurred_at, recorded_at, actor FROM case_events WHERE case_id = :id ORDER BY id"),
        {"id": case_id},
    ).all()
    opened, *events = rows
    ids = list(opened.payload.get("facility_ids", []))
    names = dict(
        session.execute(text("SELECT id, name FROM outside_facilities WHERE id = ANY(:ids)"), {"ids": ids}).all()
    )
    return Story(
        opening=dict(opened.payload),
        facilities=tuple(names[facility_id] for facility_id in ids),
        opened_at=opened.occurred_at,
        events=tuple(Recorded(row.kind, row.payload, row.occurred_at, row.recorded_at, row.actor) for row in events),
    )


def same_kind(violation: str) -> str:
    """A violation without its numbers, to tell whether a replay breaks the invariant the same way."""
    return re.sub(r"\d+", "N", violation)


def replay(session: Session, story: Story, events: Sequence[Recorded], settings: Settings) -> list[str]:
    """The invariant's breaches for a fresh case opened like `story` with `events` recorded on it."""
    savepoint = session.begin_nested()
    try:
        opening = story.opening
        opened = open_case(
            session,
            CaseOpening(
                mrn=f"REPLAY-{uuid.uuid4().hex[:12]}",
                given_name="Prop",
                family_name="Replay",
                birth_date=date(1961, 5, 17),
                finding_type=opening["finding_type"],
                laterality=opening["laterality"],
                density=opening["density"],
                birads=opening["birads"],
                facilities=[FacilityRef(name=name) for name in story.facilities],
                palpable=opening.get("palpable", False),
                pathway=str(opening["pathway"]).split("@")[0],
            ),
            actor="nav:replay",
            now=story.opened_at,
        )
        last = story.opened_at
        for recorded in events:
            attempt = session.begin_nested()
            try:
                record_event(
                    session, opened.case_id, recorded.kind, recorded.payload, actor=recorded.actor,
                    now=recorded.recorded_at, occurred_at=recorded.occurred_at,
                )  # fmt: skip
                attempt.commit()
            except WorkupError:
                attempt.rollback()  # refused without the events cut out before it: fine, go on
            last = max(last, recorded.recorded_at)
        later = last + timedelta(days=1)
        finish_run_requests(session, later, settings)
        sweep_overdue(session, later, settings=settings)
        return [what for _, what in invariant_violations(session, [opened.case_id])]
    finally:
        savepoint.rollback()


def ddmin(items: list[Recorded], fails: Callable[[list[Recorded]], bool]) -> list[Recorded]:
    """The classic delta debugging minimisation (Zeller): drop chunks while the test still fails,
    then single events; the result is 1-minimal when the replay budget lasts."""
    chunks = 2
    while len(items) >= 2:
        size = -(-len(items) // chunks)
        for start in range(0, len(items), size):
            complement = items[:start] + items[start + size :]
            if fails(complement):
                items, chunks = complement, max(chunks - 1, 2)
                break
        else:
            if chunks >= len(items):
                break
            chunks = min(len(items), 2 * chunks)
    return items


def minimal_story(session: Session, case_id: int, violation: str, settings: Settings) -> str:
    """The fewest of the case's events that still break the invariant as `violation` says, as text."""
    story = case_story(session, case_id)
    wanted = same_kind(violation)
    replays = 0

    def fails(events: list[Recorded]) -> bool:
        nonlocal replays
        if replays >= MAX_REPLAYS:
            return False
        replays += 1
        return wanted in {same_kind(found) for found in replay(session, story, events, settings)}

    if not fails(list(story.events)):
        return "  (replaying the case's own events on a fresh case does not reproduce it: it needs the other cases)"
    events = ddmin(list(story.events), fails)
    opening = story.opening
    lines = [
        f"  open {opening['finding_type']}{' palpable' if opening.get('palpable') else ''} {opening['laterality']} "
        f"density {opening['density']} BI-RADS {opening['birads']} facilities {list(story.facilities)} "
        f"({opening['pathway']})"
    ]
    for recorded in events:
        shown = json.dumps(recorded.payload, sort_keys=True)
        backdated = (
            "" if recorded.occurred_at == recorded.recorded_at else f" (occurred +{since(story, recorded.occurred_at)})"
        )
        lines.append(f"  +{since(story, recorded.recorded_at)} {recorded.kind} {shown}{backdated} by {recorded.actor}")
    spent = ", the replay budget spent" if replays >= MAX_REPLAYS else ""
    lines.append(f"  then the runner and a sweep a day later ({replays} replays{spent})")
    return "\n".join(lines)


def since(story: Story, moment: datetime) -> str:
    delta = moment - story.opened_at
    return f"{delta.days}d{delta.seconds // 3600}h"
