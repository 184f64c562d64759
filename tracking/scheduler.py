"""The embedded scheduler: APScheduler 3 fires the flows; a PostgreSQL advisory lock elects one leader.

Every process that runs `workup serve` or `workup scheduler` starts one of these. Only the one
holding the advisory lock fires jobs; the others wait in standby and take over when the leader's
database session ends (the lock dies with it). In scaled-out mode (Prefect deployments and
workers) the embedded scheduler is switched off with WORKUP_SCHEDULER_ENABLED=false.

No work is dropped silently:

- Each run's start and end are recorded in `scheduler_job_runs`; a new leader starts each job at
  max(now, last start + interval), so a leader change neither resets nor skips a timer.
- The lock connection has a connect timeout and TCP keepalives, and stepping down never waits
  for running jobs (they may be stuck retrying against a dead database): a new leader is elected
  within one standby poll of the database coming back. Jobs run in daemon threads, each behind a
  per-job guard, so a run still going from before a leader change never runs twice at once.
- The sweep, reminders and delivery are idempotent; when the Prefect API cannot be reached they
  run the same services without Prefect (one warning line). Case runs do not: they are retried.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, create_engine, pool, text

from tracking.scheduler_runs import next_run_delays, record_finish, record_start, seconds_since_start
from tracking.settings import Settings

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6272_7773  # "brws": one embedded scheduler per database
CONNECT_TIMEOUT_SECONDS = 5
# The lock's session must notice a dead server or a lost network in seconds, not after TCP's
# two-minute connect retries or fifteen-minute retransmissions.
LOCK_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,  # milliseconds
    "application_name": "workup scheduler",
}
STOP_GRACE_SECONDS = 8.0  # on stop, how long running jobs may finish before the process goes on
PREFECT_PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[[], object]
    without_prefect: Callable[[], object] | None = None  # the same work, for when Prefect is unreachable


def default_jobs(settings: Settings) -> list[Job]:
    from flows.delivery import deliver_notifications
    from flows.reminders import send_reminders
    from flows.sweep import sweep_overdue_steps
    from flows.workup import run_pending_case_runs

    return [
        Job("run_pending_case_runs", settings.case_runs_every_seconds, run_pending_case_runs),
        Job("sweep_overdue_steps", settings.sweep_every_seconds, sweep_overdue_steps, sweep_without_prefect),
        Job("send_reminders", settings.reminders_every_seconds, send_reminders, reminders_without_prefect),
        Job("deliver_notifications", settings.delivery_every_seconds, deliver_notifications, delivery_without_prefect),
    ]


def sweep_without_prefect() -> None:
    from tracking.alerts.sweep import sweep_overdue
    from tracking.db import session_scope

    with session_scope() as session:
        sweep_overdue(session, datetime.now(UTC))


def reminders_without_prefect() -> dict:
    """What `workup reminders` runs (tracking/reminders/run.py), as of the wall clock, in one transaction."""
    from tracking.db import session_scope
    from tracking.reminders.run import run_reminders

    with session_scope() as session:
        return run_reminders(session, datetime.now(UTC)).as_dict()


def delivery_without_prefect(limit: int = 500) -> dict:
    from tracking.db import get_engine
    from tracking.notify.delivery import deliver_due

    return deliver_due(get_engine(), datetime.now(UTC), limit=limit).as_dict()


def _prefect_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _is_prefect(error: httpx.HTTPError, api_url: str) -> bool:
    try:
        url = error.request.url
    except RuntimeError:  # no request attached
        return False
    api = httpx.URL(api_url)
    return (url.host, url.port) == (api.host, api.port)


def prefect_unreachable(error: BaseException, api_url: str | None = None) -> str | None:
    """Why the Prefect API failed us ("ConnectError", "HTTP 503", ...), or None when `error` is not that."""
    api_url = api_url or _prefect_api_url()
    if not api_url:
        return None
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, httpx.HTTPStatusError):
            if link.response.status_code >= 500 and _is_prefect(link, api_url):
                return f"HTTP {link.response.status_code}"
        elif isinstance(link, httpx.TransportError) and _is_prefect(link, api_url):
            return type(link).__name__
        link = link.__cause__ or link.__context__
    return None


def prefect_probe() -> str | None:
    """None when the Prefect API answers its health check promptly, else why not (no API URL: None)."""
    api_url = _prefect_api_url()
    if not api_url:
        return None
    try:
        response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=PREFECT_PROBE_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return type(error).__name__
    return None if response.status_code < 500 else f"HTTP {response.status_code}"


def run_with_fallback(job: Job) -> object:
    """Run the job's flow; if it has `without_prefect` and Prefect is unreachable, run that instead.
    Returns what the one that ran returned (the same report either way)."""
    if job.without_prefect is None:
        return job.run()
    problem = prefect_probe()  # a hung API would otherwise hold the job through the client's retries
    if problem is None:
        try:
            return job.run()
        except Exception as error:
            problem = prefect_unreachable(error)
            if problem is None:
                raise
    log.warning("Prefect API unreachable (%s); %s runs without Prefect", problem, job.name)
    return job.without_prefect()


class _DaemonThreadExecutor(BaseExecutor):
    """Each run in a daemon thread of its own: a run stuck on a dead database never holds up a
    step-down, a new election or the end of the process (STOP_GRACE_SECONDS is its grace)."""

    def _do_submit_job(self, job, run_times):
        def target() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        threading.Thread(target=target, name=f"workup-job-{job.id}", daemon=True).start()


class EmbeddedScheduler:
    """Leader election by advisory lock, then APScheduler interval jobs with coalescing."""

    def __init__(self, url: str, settings: Settings, jobs: list[Job], *, standby_poll_seconds: float = 5.0):
        self.settings = settings
        self.jobs = jobs
        self.standby_poll_seconds = standby_poll_seconds
        self._engine: Engine = create_engine(
            url, poolclass=pool.NullPool, connect_args=LOCK_CONNECT_ARGS, hide_parameters=True
        )
        self._lock_connection: Connection | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._running = {job.name: threading.Lock() for job in jobs}  # held while a run of the job is going
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
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}).scalar()
            ages = seconds_since_start(connection, [job.name for job in self.jobs]) if got else {}
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._lock_connection = connection
        self._scheduler = self._build_scheduler(ages)
        self._scheduler.start()
        log.info("embedded scheduler is leader; firing %s", ", ".join(job.name for job in self.jobs))
        return True

    def _build_scheduler(self, ages: dict[str, float]) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": _DaemonThreadExecutor()},
            job_defaults={
                "coalesce": True,  # runs missed while busy or asleep collapse into one
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_seconds,
            },
        )
        now = datetime.now(UTC)
        delays = next_run_delays({job.name: job.every_seconds for job in self.jobs}, ages)
        for job in self.jobs:
            scheduler.add_job(
                self._runner(job), "interval", seconds=job.every_seconds, id=job.name, name=job.name,
                next_run_time=now + timedelta(seconds=delays[job.name]),
            )  # fmt: skip
        return scheduler

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            self.run_job(job)

        run.__name__ = job.name
        return run

    def run_job(self, job: Job) -> None:
        """One run of `job`, recorded in scheduler_job_runs; skipped while an earlier run still goes."""
        guard = self._running[job.name]
        if not guard.acquire(blocking=False):
            log.warning("scheduled job %s is still running from before; this run is skipped", job.name)
            return
        try:
            self._record(record_start, job.name)
            error: Exception | None = None
            try:
                run_with_fallback(job)
            except Exception as failure:
                error = failure  # the class name only: messages may quote data
                log.error("scheduled job %s failed (%s); it runs again at its next interval", job.name,
                          type(failure).__name__)  # fmt: skip
            self._record(record_finish, job.name, error=error)
        finally:
            guard.release()

    def _record(self, record: Callable[..., None], job: str, **values: object) -> None:
        try:
            with self._engine.begin() as connection:
                record(connection, job, **values)
        except Exception as error:  # the database is down: the run itself goes on (or fails) regardless
            log.warning("could not record a run of %s in scheduler_job_runs (%s)", job, type(error).__name__)

    def _still_leader(self) -> bool:
        try:
            self._lock_connection.execute(text("SELECT 1"))
            self._lock_connection.commit()
            return True
        except Exception:
            return False

    def _step_down(self) -> None:
        if self._scheduler is not None:
            # Never wait here: a running job may be retrying against the database that just went away.
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=False)
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

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop electing and firing; running jobs get `grace` seconds to finish (they are daemon threads)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._step_down()
        deadline = time.monotonic() + grace
        for name, guard in self._running.items():
            if guard.acquire(timeout=max(0.0, deadline - time.monotonic())):
                guard.release()
            else:
                log.warning("scheduled job %s still running at stop; it is cut short", name)
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
                "next_run_time": job.next_run_time,
            }
            for job in self._scheduler.get_jobs()
        ]
