"""The embedded scheduler: one leader per database by advisory lock, coalescing jobs, failover,
timers kept in PostgreSQL, one run of a job at a time, and the sweep going on without Prefect."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prefect
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import seed_opening
from tests.flows.conftest import free_port
from tracking.alerts.models import Alert
from tracking.cases.opening import open_case
from tracking.scheduler import EmbeddedScheduler, Job, default_jobs, prefect_unreachable
from tracking.settings import Settings

DEFAULT_JOBS = ("run_pending_case_runs", "sweep_overdue_steps", "send_reminders", "deliver_notifications")


def settings(**values) -> Settings:
    return Settings(**values)


def record_runs(engine, **seconds_ago: float) -> None:
    """scheduler_job_runs rows: each job last started `seconds_ago` (by the database's clock)."""
    with engine.begin() as connection:
        for job, age in seconds_ago.items():
            connection.execute(
                text(
                    "INSERT INTO scheduler_job_runs (job, last_started_at) VALUES (:job, now() - make_interval(secs => :age)) "
                    "ON CONFLICT (job) DO UPDATE SET last_started_at = EXCLUDED.last_started_at"
                ),
                {"job": job, "age": age},
            )


def job_runs(engine) -> dict[str, tuple]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT job, last_started_at, last_finished_at, last_outcome, last_error FROM scheduler_job_runs")
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_only_one_scheduler_fires_and_the_other_takes_over(database_url, committed):
    fired = {"a": 0, "b": 0}
    jobs_a = [Job("tick", 3600, lambda: fired.__setitem__("a", fired["a"] + 1))]
    jobs_b = [Job("tick", 3600, lambda: fired.__setitem__("b", fired["b"] + 1))]
    first = EmbeddedScheduler(database_url, settings(), jobs_a)
    second = EmbeddedScheduler(database_url, settings(), jobs_b)
    try:
        assert first.try_become_leader() is True
        assert second.try_become_leader() is False
        assert (first.is_leader, second.is_leader) == (True, False)
        assert [job["id"] for job in first.scheduled_jobs()] == ["tick"]
        assert second.scheduled_jobs() == []
        first.stop()  # the leader's session ends; its advisory lock goes with it
        assert second.try_become_leader() is True
    finally:
        first.stop()
        second.stop()


def test_election_loop_elects_exactly_one(database_url, committed):
    schedulers = [
        EmbeddedScheduler(database_url, settings(), [Job("tick", 3600, lambda: None)], standby_poll_seconds=0.05)
        for _ in range(3)
    ]
    elected = threading.Event()
    try:
        for scheduler in schedulers:
            scheduler.start()
        for _ in range(200):
            if any(scheduler.is_leader for scheduler in schedulers):
                elected.set()
                break
            elected.wait(0.05)
        assert elected.is_set()
        assert sum(scheduler.is_leader for scheduler in schedulers) == 1
    finally:
        for scheduler in schedulers:
            scheduler.stop()


def test_default_jobs_coalesce_with_misfire_grace(database_url, committed):
    configured = settings(WORKUP_SWEEP_EVERY_SECONDS=120, WORKUP_MISFIRE_GRACE_SECONDS=30)
    jobs = default_jobs(configured)
    assert [job.name for job in jobs] == list(DEFAULT_JOBS)
    assert [job.name for job in jobs if job.without_prefect] == list(DEFAULT_JOBS[1:])  # not the case runs
    record_runs(committed, **dict.fromkeys(DEFAULT_JOBS, 0))  # all just ran: none fires during the test
    scheduler = EmbeddedScheduler(database_url, configured, jobs)
    try:
        assert scheduler.try_become_leader()
        described = {job["id"]: job for job in scheduler.scheduled_jobs()}
        assert described["sweep_overdue_steps"]["trigger"] == "interval[0:02:00]"
        assert all(job["coalesce"] and job["max_instances"] == 1 for job in described.values())
        assert all(job["misfire_grace_time"] == 30 for job in described.values())
    finally:
        scheduler.stop()


def test_a_new_leader_schedules_from_the_last_recorded_start(database_url, committed):
    """Last started 50 s ago, every 60 s: the next run is ~10 s away, not a whole interval."""
    jobs = [Job("every_minute", 60, lambda: None), Job("hourly", 3600, lambda: None), Job("new", 60, lambda: None)]
    record_runs(committed, every_minute=50, hourly=4000)
    scheduler = EmbeddedScheduler(database_url, settings(), jobs)
    try:
        before = datetime.now(UTC)
        assert scheduler.try_become_leader()
        after = datetime.now(UTC)
        runs = {job["id"]: job["next_run_time"] for job in scheduler.scheduled_jobs()}
        assert before + timedelta(seconds=9) <= runs["every_minute"] <= after + timedelta(seconds=11)

        def ran_at_once() -> bool:  # an hour overdue and never run alike
            started = {job: row[0] for job, row in job_runs(committed).items()}
            return all(started.get(job, before - timedelta(days=1)) >= before - timedelta(seconds=1)
                       for job in ("hourly", "new"))  # fmt: skip

        deadline = time.monotonic() + 10
        while not ran_at_once():
            assert time.monotonic() < deadline, job_runs(committed)
            time.sleep(0.02)
    finally:
        scheduler.stop()


def test_runs_are_recorded_with_their_outcome(database_url, committed):
    def broken() -> None:
        raise ValueError("MRN TEST-SEED-1 must never reach a log or the database")

    jobs = [Job("fine", 60, lambda: None), Job("broken", 60, broken)]
    scheduler = EmbeddedScheduler(database_url, settings(), jobs)
    try:
        for job in jobs:
            scheduler.run_job(job)
    finally:
        scheduler.stop()
    runs = job_runs(committed)
    started, finished, outcome, error = runs["fine"]
    assert finished >= started and (outcome, error) == ("succeeded", None)
    assert runs["broken"][2:] == ("failed", "ValueError")


def test_a_job_never_runs_twice_at_once_in_one_process(database_url, committed, caplog):
    """A run still going from before a leader change makes the new leader's run of that job skip."""
    entered, release = threading.Event(), threading.Event()
    runs = []

    def slow() -> None:
        runs.append(1)
        entered.set()
        release.wait(30)

    job = Job("slow", 60, slow)
    scheduler = EmbeddedScheduler(database_url, settings(), [job])
    first = threading.Thread(target=scheduler.run_job, args=(job,))
    try:
        first.start()
        assert entered.wait(10)
        with caplog.at_level(logging.WARNING, logger="tracking.scheduler"):
            scheduler.run_job(job)  # returns at once: skipped
        assert runs == [1]
        assert "slow is still running from before" in caplog.text
    finally:
        release.set()
        first.join(10)
        scheduler.stop()
    assert job_runs(committed)["slow"][2] == "succeeded"


@contextmanager
def prefect_api(status_for: dict[str, int]) -> Iterator[str]:
    """A real HTTP server on loopback answering each path prefix with its status (else 500); yields /api URL."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            path = self.path.removeprefix("/api")
            status = next((code for prefix, code in status_for.items() if path.startswith(prefix)), 500)
            body = json.dumps(prefect.__version__ if path == "/admin/version" else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = answer  # noqa: N815 - http.server's hook names

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def prefect_api_at(url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def overdue_case(engine) -> int:
    """A case opened 10 days ago and left alone: its magnification views (due on day 7) are overdue now."""
    with Session(engine) as session:
        case_id = open_case(session, seed_opening(), actor="test", now=datetime.now(UTC) - timedelta(days=10)).case_id
        session.commit()
    return case_id


def sweep_job_without_prefect_raises_an_alert(engine, database_url, caplog, api_url: str) -> str:
    case_id = overdue_case(engine)
    sweep = next(job for job in default_jobs(settings()) if job.name == "sweep_overdue_steps")
    scheduler = EmbeddedScheduler(database_url, settings(), [sweep])
    try:
        with prefect_api_at(api_url), caplog.at_level(logging.WARNING):
            scheduler.run_job(sweep)
    finally:
        scheduler.stop()
    with Session(engine) as session:
        alerts = session.exec(select(Alert).where(Alert.case_id == case_id, Alert.kind == "overdue_step")).all()
    assert [(alert.level, alert.status) for alert in alerts] == [(1, "open")]
    assert job_runs(engine)["sweep_overdue_steps"][2] == "succeeded"
    ours = [record for record in caplog.records if record.name == "tracking.scheduler"]
    assert [record.levelname for record in ours] == ["WARNING"], caplog.text
    for patient_data in ("Maren", "Testcase", "TEST-SEED", "1968"):  # the seed patient
        assert patient_data not in caplog.text
    return ours[0].getMessage()


def test_sweep_runs_without_prefect_when_its_api_refuses_connections(database_url, committed, caplog):
    closed = f"http://127.0.0.1:{free_port()}/api"  # bound once, then closed: nothing listens there
    message = sweep_job_without_prefect_raises_an_alert(committed, database_url, caplog, closed)
    assert message == "Prefect API unreachable (ConnectError); sweep_overdue_steps runs without Prefect"


def test_sweep_runs_without_prefect_when_its_api_answers_5xx(database_url, committed, caplog):
    with prefect_api({"/health": 503}) as api_url:
        message = sweep_job_without_prefect_raises_an_alert(committed, database_url, caplog, api_url)
    assert message == "Prefect API unreachable (HTTP 503); sweep_overdue_steps runs without Prefect"


def test_sweep_runs_without_prefect_when_the_flow_run_fails_on_a_prefect_5xx(database_url, committed, caplog):
    """Healthy by its health check, then a 500 when the flow run is created: the flow's own error path."""
    with prefect_api({"/health": 200, "/admin/version": 200}) as api_url:
        message = sweep_job_without_prefect_raises_an_alert(committed, database_url, caplog, api_url)
    assert message.startswith("Prefect API unreachable (HTTP 5") and message.endswith("runs without Prefect")


def test_case_runs_do_not_fall_back_and_the_failure_is_recorded(database_url, committed, caplog):
    case_runs = next(job for job in default_jobs(settings()) if job.name == "run_pending_case_runs")
    assert case_runs.without_prefect is None
    scheduler = EmbeddedScheduler(database_url, settings(), [case_runs])
    try:
        with prefect_api_at(f"http://127.0.0.1:{free_port()}/api"), caplog.at_level(logging.WARNING):
            scheduler.run_job(case_runs)
    finally:
        scheduler.stop()
    assert job_runs(committed)["run_pending_case_runs"][2:] == ("failed", "RuntimeError")
    assert "without Prefect" not in caplog.text


@pytest.mark.parametrize("status", [502, 404])
def test_only_prefect_errors_count_as_prefect_unreachable(status):
    import httpx

    api = "http://127.0.0.1:4200/api"
    to_prefect = httpx.Request("POST", f"{api}/flow_runs/")
    elsewhere = httpx.Request("POST", "http://127.0.0.1:4201/hook")
    refused = httpx.ConnectError("refused", request=to_prefect)
    wrapped = RuntimeError("Failed to reach API")
    wrapped.__cause__ = refused
    assert prefect_unreachable(wrapped, api) == "ConnectError"
    assert prefect_unreachable(httpx.ConnectError("refused", request=elsewhere), api) is None
    answer = httpx.HTTPStatusError("x", request=to_prefect, response=httpx.Response(status, request=to_prefect))
    assert prefect_unreachable(answer, api) == ("HTTP 502" if status == 502 else None)
    assert prefect_unreachable(ValueError("database said no"), api) is None
