"""Benchmark (a): the overdue sweep against the bare-SQL floor, on a generated population.

The floor is hand-written SQL doing the same core work: select the overdue open steps and insert
their alerts with ON CONFLICT DO NOTHING. Both run on copies of the same data in one run.

The first sweep is a full pass (no watermark: the population was loaded past the change log's
triggers); the sweeps after it read only what changed (ADR 12), and are compared with the bare reads
of what can have changed (FLOOR_CHANGED). `full_again` is a full pass with nothing to change, forced
(`workup sweep --full`): what every sweep cost before ADR 12.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlmodel import Session

from tracking.alerts.sweep import sweep_overdue
from tracking.pathway.definition import all_pathways
from tracking.settings import get_settings

# The first sweep's floor: the bare INSERT ... SELECT of every overdue open step's alert into the same
# alerts table (its indexes, its foreign keys). Run a second time it inserts nothing: the floor of a
# full pass with nothing to change.
FLOOR = text(
    """
    INSERT INTO alerts (kind, step_id, case_id, level, status, raised_at)
    SELECT 'overdue_step', s.id, s.case_id, 1, 'open', CAST(:now AS timestamptz)
    FROM steps s
    WHERE s.status IN ('pending', 'scheduled') AND s.due_at < CAST(:now AS timestamptz)
    ON CONFLICT (step_id) WHERE status <> 'resolved' DO NOTHING
    """
)
# A no-change sweep's floor: the bare reads of what can have changed since the watermark (ADR 12),
# in one statement: the change log claimed, the open and handed-off steps that fell due in the
# window, and the alerts whose escalation or snooze is due. Each read goes through the index the
# sweep uses; nothing is joined, compared or written.
FLOOR_CHANGED = text(
    """
    WITH claimed AS (DELETE FROM sweep_changes RETURNING case_id, step_id)
    SELECT (SELECT count(*) FROM claimed),
           (SELECT count(*) FROM steps WHERE status IN ('pending', 'scheduled')
              AND due_at >= CAST(:since AS timestamptz) AND due_at < CAST(:now AS timestamptz)),
           (SELECT count(*) FROM steps WHERE status = 'handed_off'
              AND due_at >= CAST(:since AS timestamptz) AND due_at < CAST(:now AS timestamptz)),
           (SELECT count(*) FROM alerts WHERE status <> 'resolved' AND snoozed_until IS NULL
              AND next_escalation_at <= CAST(:now AS timestamptz)),
           (SELECT count(*) FROM alerts WHERE status <> 'resolved' AND snoozed_until IS NOT NULL
              AND snoozed_until <= CAST(:now AS timestamptz))
    """
)
NO_CHANGE_RUNS = 5


@dataclass
class SweepTimes:
    open_steps: int
    overdue_steps: int
    raised: int
    sweep_first: float  # a full pass on a population no sweep has seen: every alert raised
    floor_first: float  # FLOOR inserting every alert
    no_change: list[float]  # runs 2-6 at the same moment, nothing to change (incremental)
    floor_no_change: float  # FLOOR_CHANGED, best of NO_CHANGE_RUNS
    full_again: float  # a forced full pass with nothing to change (`workup sweep --full`)
    floor_full_again: float  # FLOOR inserting nothing
    five_minutes_later: float  # the next routine sweep: steps falling due in five minutes, escalations

    @property
    def no_change_median(self) -> float:
        return statistics.median(self.no_change)


def _reset_alerts(engine) -> None:
    """Empty alerts (and their notifications) and forget the sweep's watermark and change log, then
    vacuum so each timed run starts alike."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM notifications WHERE alert_id IS NOT NULL"))
        connection.execute(text("DELETE FROM alerts"))
        connection.execute(text("DELETE FROM sweep_state"))
        connection.execute(text("DELETE FROM sweep_changes"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE alerts, notifications, sweep_state, sweep_changes"))


def _timed(engine, work, *, commit: bool = True) -> tuple[float, object]:
    with Session(engine) as session:
        started = time.perf_counter()
        result = work(session)
        if commit:
            session.commit()
        else:
            session.rollback()
        return time.perf_counter() - started, result


def measure(url: str, now: datetime | None = None) -> SweepTimes:
    now = now or datetime.now(UTC)
    engine = create_engine(url)
    pathways = all_pathways()
    settings = get_settings()
    with engine.connect() as connection:
        open_steps, overdue = connection.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE due_at < CAST(:now AS timestamptz)) FROM steps "
                "WHERE status IN ('pending', 'scheduled')"
            ),
            {"now": now},
        ).one()
    _reset_alerts(engine)
    floor_first, _ = _timed(engine, lambda session: session.execute(FLOOR, {"now": now}))
    floor_full_again, _ = _timed(engine, lambda session: session.execute(FLOOR, {"now": now}))
    _reset_alerts(engine)

    def sweep(session, at=now, full=False):
        return sweep_overdue(session, at, pathways=pathways, settings=settings, full=full)

    sweep_first, report = _timed(engine, sweep)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # the statistics autovacuum takes within a minute of the first sweep's inserts, before the next
        # routine sweep (five minutes later): without them the planner takes the alerts table for empty
        connection.execute(text("ANALYZE alerts"))
    no_change = [_timed(engine, sweep)[0] for _ in range(NO_CHANGE_RUNS)]
    with engine.connect() as connection:
        since = connection.execute(text("SELECT last_swept_at FROM sweep_state WHERE name = 'alerts'")).scalar_one()
    floor_no_change = min(
        _timed(engine, lambda session: session.execute(FLOOR_CHANGED, {"since": since, "now": now}), commit=False)[0]
        for _ in range(NO_CHANGE_RUNS)
    )
    full_again, _ = _timed(engine, lambda session: sweep(session, full=True))
    later, _ = _timed(engine, lambda session: sweep(session, now + timedelta(minutes=5)))
    engine.dispose()
    return SweepTimes(
        open_steps, overdue, report.raised, sweep_first, floor_first, no_change, floor_no_change, full_again,
        floor_full_again, later,
    )  # fmt: skip


if __name__ == "__main__":
    from tracking.db import database_url

    times = measure(database_url())
    print(times)
