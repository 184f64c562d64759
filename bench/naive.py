"""Benchmark (d): the naive design, one Prefect flow run per open case to check whether it is overdue.

Timed on a sample and extrapolated to every open case, to compare with the set-based sweep.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from prefect import flow
from sqlalchemy import create_engine, text

CHECK = text(
    """
    INSERT INTO alerts (kind, step_id, case_id, level, status, raised_at)
    SELECT 'overdue_step', s.id, s.case_id, 1, 'open', CAST(:now AS timestamptz) FROM steps s
    WHERE s.case_id = :case_id AND s.status IN ('pending', 'scheduled') AND s.due_at < CAST(:now AS timestamptz)
    ON CONFLICT (step_id) WHERE status <> 'resolved' DO NOTHING
    """
)
_engine = None


@flow(name="check_case_overdue")
def check_case_overdue(case_id: int, now: datetime) -> None:
    with _engine.begin() as connection:
        connection.execute(CHECK, {"case_id": case_id, "now": now})


def run(url: str, sample: int = 200) -> tuple[float, int, int]:
    """(seconds for `sample` flow runs, sample, open cases)."""
    global _engine
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    _engine = create_engine(url)
    with _engine.connect() as connection:
        case_ids = connection.execute(text("SELECT id FROM cases WHERE status = 'open' ORDER BY random() LIMIT :n"),
                                      {"n": sample}).scalars().all()  # fmt: skip
        open_cases = connection.execute(text("SELECT count(*) FROM cases WHERE status = 'open'")).scalar_one()
    now = datetime.now(UTC)
    with prefect_test_harness(), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        check_case_overdue(case_ids[0], now)  # warm up the client
        started = time.perf_counter()
        for case_id in case_ids:
            check_case_overdue(case_id, now)
        seconds = time.perf_counter() - started
    _engine.dispose()
    return seconds, len(case_ids), open_cases
