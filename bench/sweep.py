"""Benchmark (a): the overdue sweep against the bare-SQL floor, on a generated population.

The floor is hand-written SQL doing the same core work: select the overdue open steps and insert
their alerts with ON CONFLICT DO NOTHING. Both run on copies of the same data in one run.

The first sweep is a full pass (no watermark: the population was loaded past the change log's
triggers); the sweeps after it read only what changed (ADR 12). `sweep_full_again` is a full pass
with nothing to change, forced (`workup sweep --full`): what every sweep cost before ADR 12.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text
from sqlmodel import Session

from tracking.alerts.sweep import sweep_overdue
from tracking.pathway.definition import all_pathways
from tracking.settings import get_settings

FLOOR = text(
    """
    INSERT INTO alerts (kind, step_id, case_id, level, status, raised_at)
    SELECT 'overdue_step', s.id, s.case_id, 1, 'open', CAST(:now AS timestamptz)
    FROM steps s
    WHERE s.status IN ('pending', 'scheduled') AND s.due_at < CAST(:now AS timestamptz)
    ON CONFLICT (step_id) WHERE status <> 'resolved' DO NOTHING
    """
)


@dataclass
class SweepTimes:
    open_steps: int
    overdue_steps: int
    sweep_first: float
    sweep_again: float
    sweep_steady: float
    floor_first: float
    floor_again: float
    raised: int
    sweep_full_again: float = 0.0
    sweep_five_minutes_later: float = 0.0


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


def _timed(engine, work) -> tuple[float, object]:
    with Session(engine) as session:
        started = time.perf_counter()
        result = work(session)
        session.commit()
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
    floor_again, _ = _timed(engine, lambda session: session.execute(FLOOR, {"now": now}))
    _reset_alerts(engine)

    def sweep(session, at=now, full=False):
        return sweep_overdue(session, at, pathways=pathways, settings=settings, full=full)

    sweep_first, report = _timed(engine, sweep)
    sweep_again, _ = _timed(engine, sweep)
    sweep_steady = min(_timed(engine, sweep)[0] for _ in range(3))  # runs 3-5: the 5-minute routine
    full_again, _ = _timed(engine, lambda session: sweep(session, full=True))
    later, _ = _timed(engine, lambda session: sweep(session, now + timedelta(minutes=5)))
    engine.dispose()
    return SweepTimes(
        open_steps, overdue, sweep_first, sweep_again, sweep_steady, floor_first, floor_again, report.raised,
        full_again, later,
    )  # fmt: skip


if __name__ == "__main__":
    from tracking.db import database_url

    times = measure(database_url())
    print(times)
