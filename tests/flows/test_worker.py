"""`workup worker`'s loop in this process: woken by PostgreSQL NOTIFY, it runs the case and delivers its
notices without waiting for a poll; idle, it starts no flow run; it listens again after its
connection is killed; without Prefect, delivery goes on and case runs wait, never counted.

The fallback polls are an hour long in these tests, so only a wake-up explains work being done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tests.flows.conftest import free_port
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.settings import get_settings
from tracking.worker.lanes import Lane, case_runs_pass, default_lanes, delivery_pass
from tracking.worker.loop import Worker

HOUR = 3600
DEADLINE_SECONDS = 60


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.02)


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    worker.start()
    try:
        yield worker
    finally:
        assert worker.stop(grace=30)


def looked(worker: Worker, times: int) -> Callable[[], bool]:
    """True once the worker has asked what is due `times` times (one query answers for both lanes;
    after a pass it asks again)."""
    return lambda: worker.looks >= times


def hourly_lanes(configure) -> list[Lane]:
    configure(WORKUP_CASE_RUNS_EVERY_SECONDS=HOUR, WORKUP_DELIVERY_EVERY_SECONDS=HOUR)
    return default_lanes(get_settings())


def new_case(engine, mrn: str) -> int:
    """A case with no outside facility (so nothing but our notice goes out), written now."""
    with Session(engine) as session:
        case_id = open_case(session, seed_opening(mrn=mrn, facilities=[]), actor="nav", now=datetime.now(UTC)).case_id
        session.commit()
    return case_id


def record_suspicious_read(engine, case_id: int) -> None:
    """A BI-RADS 4B read: a run request and a result-letter notice to the navigators, in one commit."""
    with Session(engine) as session:
        record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=datetime.now(UTC))
        session.commit()


def case_state(engine, case_id: int) -> tuple[list[str], list[str]]:
    """(statuses of the case's run requests, statuses of its notifications)."""
    with engine.connect() as connection:
        runs = connection.execute(text("SELECT status FROM case_runs WHERE case_id = :c ORDER BY id"), {"c": case_id})
        sent = connection.execute(
            text("SELECT status FROM notifications WHERE case_id = :c ORDER BY id"), {"c": case_id}
        )
        return list(runs.scalars()), list(sent.scalars())


def served(engine, case_id: int, runs: int, notices: int) -> Callable[[], bool]:
    """True once the case has `runs` run requests, all done, and `notices` notifications, all delivered."""
    return lambda: case_state(engine, case_id) == (["done"] * runs, ["delivered"] * notices)


def flow_runs() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def flow_run_named(name: str) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        return bool(client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))))


def test_a_recorded_event_wakes_the_worker_which_runs_the_case_and_sends_its_notice(
    prefect_harness, committed, database_url, configure, smtp
):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    case_id = new_case(committed, "WAKE-1")
    with running(Worker(database_url, hourly_lanes(configure))) as worker:
        wait_for(served(committed, case_id, runs=1, notices=0), "the opening's run request, found by the first look")
        wait_for(looked(worker, 3), "a look after the first pass")
        record_suspicious_read(committed, case_id)
        wait_for(served(committed, case_id, runs=2, notices=1), "the event's run and notice, woken by NOTIFY")
    assert [mail.recipients for mail in smtp.received] == [["nav@center.test"]]
    assert "result" in smtp.received[0].subject.lower()
    assert flow_run_named(f"case-{case_id}")


def test_an_idle_worker_starts_no_flow_run(prefect_harness, committed, database_url):
    lanes = [Lane("case_runs", 0.01, case_runs_pass), Lane("notifications", 0.01, lambda: delivery_pass(1))]
    before = flow_runs()
    with running(Worker(database_url, lanes)) as worker:
        wait_for(looked(worker, 40), "forty looks at an empty queue")
    assert flow_runs() == before


def worker_backends(engine) -> list[int]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'workup worker' "
                    "AND datname = current_database()"
                )
            ).scalars()
        )


def test_a_killed_listen_connection_is_opened_again_and_the_next_event_is_served(
    prefect_harness, committed, database_url, configure, smtp
):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    case_id = new_case(committed, "WAKE-2")
    with running(Worker(database_url, hourly_lanes(configure))) as worker:
        wait_for(served(committed, case_id, runs=1, notices=0), "the opening's run request")
        wait_for(looked(worker, 3), "a look after the first pass")
        looks = worker.looks  # the next ones come only from listening again (the polls are hourly)
        (first,) = worker_backends(committed)
        with committed.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
        wait_for(looked(worker, looks + 1), "a look once connected again")
        assert worker_backends(committed) not in ([], [first])
        record_suspicious_read(committed, case_id)
        wait_for(served(committed, case_id, runs=2, notices=1), "the event after the reconnection")
    assert len(smtp.received) == 1


@pytest.fixture
def prefect_away(prefect_harness):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        yield


def test_without_prefect_delivery_goes_on_and_case_runs_wait_uncounted(
    prefect_away, committed, database_url, configure, smtp
):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    case_id = new_case(committed, "WAKE-3")
    with running(Worker(database_url, hourly_lanes(configure))) as worker:
        wait_for(looked(worker, 1), "the first look")
        record_suspicious_read(committed, case_id)
        wait_for(lambda: len(smtp.received) == 1, "the notice, sent without Prefect")
        wait_for(lambda: worker.lanes[0].failed_passes >= 2, "case runs tried again after a pause")
    runs, notices = case_state(committed, case_id)
    assert (runs, notices) == (["pending", "pending"], ["delivered"])
    with committed.connect() as connection:
        tries = connection.execute(text("SELECT attempts, failures FROM case_runs WHERE case_id = :c"), {"c": case_id})
        assert tries.all() == [(0, 0), (0, 0)]  # waiting for Prefect is no try and no failure
