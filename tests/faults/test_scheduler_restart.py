"""The scheduler leader through a PostgreSQL restart: it takes its lock back in seconds, timers intact.

A dedicated embedded PostgreSQL is stopped under a leader whose job is stuck (as a run retrying
against the dead database is), then started again. The leader must stand down without waiting for
that run, take the lock back within 30 s of the database coming back, and schedule each job from
the last start recorded in scheduler_job_runs, not from the moment it became leader again.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import create_database, migrate
from tests.faults.conftest import poll, stop_postgres
from tracking.scheduler import EmbeddedScheduler, Job
from tracking.settings import Settings

pytestmark = pytest.mark.faults

RETAKE_SECONDS = 30  # the deadline, from the database coming back
TOLERANCE = timedelta(seconds=2)  # between reading the clock here and the scheduler reading it


def next_runs(scheduler: EmbeddedScheduler) -> dict[str, datetime]:
    return {job["id"]: job["next_run_time"] for job in scheduler.scheduled_jobs()}


def test_leader_retakes_its_lock_after_a_restart_and_keeps_its_timers(dedicated_postgres):
    server, server_url = dedicated_postgres
    url = create_database(server_url, "workup_scheduler_restart")
    migrate(url)
    engine = create_engine(url, pool_pre_ping=True)
    release = threading.Event()
    stuck_started = threading.Event()

    def stuck() -> None:  # a run that outlives the outage, like tasks retrying against a dead database
        stuck_started.set()
        release.wait()

    jobs = [Job("every_minute", 60, lambda: None), Job("stuck", 3600, stuck)]
    scheduler = EmbeddedScheduler(url, Settings(), jobs)  # the default 5 s standby poll
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO scheduler_job_runs (job, last_started_at, last_finished_at, "
                                    "last_outcome) VALUES ('every_minute', now() - interval '50 seconds', "
                                    "now() - interval '49 seconds', 'succeeded')"))  # fmt: skip
        scheduler.start()
        poll(lambda: scheduler.is_leader, "the first election", 30)
        elected = datetime.now(UTC)
        first = next_runs(scheduler)
        # Last started 50 s ago, every 60 s: next in ~10 s, not a full interval after the election.
        assert elected + timedelta(seconds=10) - TOLERANCE <= first["every_minute"] <= elected + timedelta(seconds=10)
        assert stuck_started.wait(30)  # never ran before: it runs at once

        stop_postgres(server)
        poll(lambda: not scheduler.is_leader, "the leader to stand down", 30)
        assert scheduler._running["stuck"].locked()  # it did not wait for the stuck run

        server.ensure_postgres_running()
        up = time.monotonic()
        poll(lambda: scheduler.is_leader, "the lock to be taken back", RETAKE_SECONDS)
        retaken = time.monotonic() - up
        print(f"lock retaken {retaken:.1f} s after PostgreSQL came back")
        reelected = datetime.now(UTC)

        recorded = text("SELECT job, last_started_at FROM scheduler_job_runs")
        with engine.connect() as connection:
            last = dict(connection.execute(recorded).all())
        again = next_runs(scheduler)
        with engine.connect() as connection:  # a job due at once may have started (and been recorded) meanwhile
            after = dict(connection.execute(recorded).all())
        for job in jobs:  # from the recorded starts again: max(now, last start + interval)
            interval = timedelta(seconds=job.every_seconds)
            allowed = {max(reelected, starts[job.name] + interval) for starts in (last, after)}
            assert any(abs(again[job.name] - expected) <= TOLERANCE for expected in allowed), (job.name, again, last)
        assert again["stuck"] > reelected + timedelta(minutes=50)  # still running from before: not again now
    finally:
        release.set()
        scheduler.stop()
        engine.dispose()
