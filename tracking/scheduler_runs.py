"""When each scheduled job last ran, kept in PostgreSQL so a new leader keeps the same rhythm."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Connection, String, text
from sqlmodel import Field, SQLModel

from tracking.base import moment


class SchedulerJobRun(SQLModel, table=True):
    """One row per scheduled job: its last start and how that run ended."""

    __tablename__ = "scheduler_job_runs"

    job: str = Field(sa_type=String(60), primary_key=True)
    last_started_at: datetime = moment()
    last_finished_at: datetime | None = moment(nullable=True)
    last_outcome: str | None = Field(default=None, sa_type=String(20), nullable=True)
    last_error: str | None = Field(default=None, sa_type=String(1000), nullable=True)

    __table_args__ = (CheckConstraint("last_outcome IN ('succeeded', 'failed')", name="last_outcome"),)


# The database's clock, not this host's: schedulers on several hosts agree on how long ago a run began.
_STARTED = text(
    """
    INSERT INTO scheduler_job_runs (job, last_started_at) VALUES (:job, now())
    ON CONFLICT (job) DO UPDATE
    SET last_started_at = now(), last_finished_at = NULL, last_outcome = NULL, last_error = NULL
    """
)
_FINISHED = text(
    """
    UPDATE scheduler_job_runs
    SET last_finished_at = clock_timestamp(), last_outcome = :outcome, last_error = :error
    WHERE job = :job
    """
)
_AGES = text(
    "SELECT job, EXTRACT(EPOCH FROM now() - last_started_at)::float8 FROM scheduler_job_runs WHERE job = ANY(:jobs)"
)


def record_start(connection: Connection, job: str) -> None:
    """A run of `job` begins now (the previous run's outcome is cleared: it describes the last start)."""
    connection.execute(_STARTED, {"job": job})


def record_finish(connection: Connection, job: str, *, error: BaseException | None = None) -> None:
    """The run of `job` ended; a failure is recorded by its exception's class name only (no patient data)."""
    outcome = "succeeded" if error is None else "failed"
    connection.execute(_FINISHED, {"job": job, "outcome": outcome, "error": type(error).__name__ if error else None})


def seconds_since_start(connection: Connection, jobs: list[str]) -> dict[str, float]:
    """For each job that ever started: seconds since its last start, by the database's clock."""
    return {job: age for job, age in connection.execute(_AGES, {"jobs": jobs}).all()}


def next_run_delays(every_seconds: dict[str, float], ages: dict[str, float]) -> dict[str, float]:
    """Seconds from now until each job's next run: max(0, last start + interval - now); never run: 0."""
    return {job: max(0.0, every - ages[job]) if job in ages else 0.0 for job, every in every_seconds.items()}
