"""The embedded scheduler: APScheduler 3 fires the flows; a PostgreSQL advisory lock elects one leader.

Every process that runs `workup serve` or `workup scheduler` starts one of these. Only the one
holding the advisory lock fires jobs; the others wait in standby and take over when the leader's
database session ends (the lock dies with it). In scaled-out mode (Prefect deployments and
workers) the embedded scheduler is switched off with WORKUP_SCHEDULER_ENABLED=false.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, create_engine, pool, text

from tracking.settings import Settings

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6272_7773  # "brws": one embedded scheduler per database


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[[], object]


def default_jobs(settings: Settings) -> list[Job]:
    from flows.delivery import deliver_notifications
    from flows.reminders import send_reminders
    from flows.sweep import sweep_overdue_steps
    from flows.workup import run_pending_case_runs

    return [
        Job("run_pending_case_runs", settings.case_runs_every_seconds, run_pending_case_runs),
        Job("sweep_overdue_steps", settings.sweep_every_seconds, sweep_overdue_steps),
        Job("send_reminders", settings.reminders_every_seconds, send_reminders),
        Job("deliver_notifications", settings.delivery_every_seconds, deliver_notifications),
    ]


class EmbeddedScheduler:
    """Leader election by advisory lock, then APScheduler interval jobs with coalescing."""

    def __init__(self, url: str, settings: Settings, jobs: list[Job], *, standby_poll_seconds: float = 5.0):
        self.settings = settings
        self.jobs = jobs
        self.standby_poll_seconds = standby_poll_seconds
        self._engine: Engine = create_engine(url, poolclass=pool.NullPool)
        self._lock_connection: Connection | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        """Begin electing in the background; returns at once."""
        self._thread = threading.Thread(target=self._elect_loop, name="workup-scheduler-election", daemon=True)
        self._thread.start()

    def try_become_leader(self) -> bool:
        """One election attempt: take the advisory lock and start firing jobs."""
        if self.is_leader:
            return True
        connection = self._engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}).scalar()
        connection.commit()
        if not got:
            connection.close()
            return False
        self._lock_connection = connection
        self._scheduler = self._build_scheduler()
        self._scheduler.start()
        log.info("embedded scheduler is leader; firing %s", ", ".join(job.name for job in self.jobs))
        return True

    def _build_scheduler(self) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={
                "coalesce": True,  # runs missed while busy or asleep collapse into one
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_seconds,
            },
        )
        for job in self.jobs:
            scheduler.add_job(_guarded(job), "interval", seconds=job.every_seconds, id=job.name, name=job.name)
        return scheduler

    def _still_leader(self) -> bool:
        try:
            self._lock_connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        if self._lock_connection is not None:
            with contextlib.suppress(Exception):
                self._lock_connection.close()  # ends the session: the lock goes with it
            self._lock_connection = None

    def _elect_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.is_leader and not self._still_leader():
                    log.warning("lost the scheduler lock's database session; standing down")
                    self._step_down()
                if not self.is_leader:
                    self.try_become_leader()
            except Exception as error:  # database down: stay in standby and retry
                log.warning("scheduler election failed: %s", type(error).__name__)
                self._step_down()
            self._stop.wait(self.standby_poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._step_down()
        self._engine.dispose()

    def scheduled_jobs(self) -> list[dict]:
        if self._scheduler is None:
            return []
        return [
            {
                "id": job.id,
                "trigger": str(job.trigger),
                "coalesce": job.coalesce,
                "max_instances": job.max_instances,
                "misfire_grace_time": job.misfire_grace_time,
            }
            for job in self._scheduler.get_jobs()
        ]


def _guarded(job: Job) -> Callable[[], None]:
    def run() -> None:
        try:
            job.run()
        except Exception:
            log.exception("scheduled job %s failed; it runs again at its next interval", job.name)

    run.__name__ = job.name
    return run
