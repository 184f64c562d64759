"""`workup worker`'s loop in this process: woken by PostgreSQL NOTIFY, it runs the case and delivers its
notices without waiting for a poll; idle, it starts no flow run; it listens again after its
connection is killed; without Prefect, delivery goes on and case runs wait, never counted.

The fallback polls are an hour long in these tests, so only a wake-up explains work being done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from tests.flows.conftest import free_port
from tests.worker_support import case_state, new_case, record_suspicious_read, served, wait_for
from tracking.settings import get_settings
from tracking.worker.lanes import Lane, case_runs_pass, default_lanes, delivery_pass
from tracking.worker.loop import Worker

HOUR = 3600


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    worker.start()
    try:
        yield worker
    finally:
        assert worker.stop(grace=30)


def looked(worker: Worker, times: int) -> Callable[[], bool]:
    """True once the worker's lanes have asked what is due `times` times in all."""
    return lambda: worker.looks >= times


def quiet(worker: Worker) -> Callable[[], bool]:
    """True once every lane has answered its wake-ups and waits for its hourly poll: from then on,
    only a wake-up makes it look."""

    def check() -> bool:
        later = time.monotonic() + 600
        return all(not (lane.busy or lane.woken) and lane.check_at > later for lane in worker.lanes)

    return check


def hourly_lanes(configure) -> list[Lane]:
    configure(WORKUP_CASE_RUNS_EVERY_SECONDS=HOUR, WORKUP_DELIVERY_EVERY_SECONDS=HOUR)
    return default_lanes(get_settings())


def flow_runs() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def flow_runs_of(engine, case_ids: list[int]) -> list:
    """The Prefect flow runs the cases' run requests name (one per request)."""
    from prefect.client.orchestration import get_client

    with engine.connect() as connection:
        ids = connection.execute(
            text("SELECT flow_run_id FROM case_runs WHERE case_id = ANY(:ids) ORDER BY id"), {"ids": case_ids}
        )
        flow_run_ids = list(ids.scalars())
    with get_client(sync_client=True) as client:
        return [client.read_flow_run(flow_run_id) for flow_run_id in flow_run_ids]


def test_a_recorded_event_wakes_the_worker_which_runs_the_case_and_sends_its_notice(
    prefect_harness, committed, database_url, configure, smtp
):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    case_id = new_case(committed, "WAKE-1")
    with running(Worker(database_url, hourly_lanes(configure))) as worker:
        wait_for(served(committed, case_id, runs=1, notices=0), "the opening's run request, found by the first look")
        wait_for(quiet(worker), "every lane waiting for its poll")
        record_suspicious_read(committed, case_id)
        wait_for(served(committed, case_id, runs=2, notices=1), "the event's run and notice, woken by NOTIFY")
    assert [mail.recipients for mail in smtp.received] == [["nav@center.test"]]
    assert "result" in smtp.received[0].subject.lower()
    runs = flow_runs_of(committed, [case_id])
    assert [(run.name, run.state.is_completed()) for run in runs] == [(f"case-{case_id}", True)] * 2


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
        wait_for(quiet(worker), "every lane waiting for its poll")
        (first,) = worker_backends(committed)
        with committed.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
        wait_for(lambda: worker.connections == 2, "a new LISTEN connection")
        wait_for(quiet(worker), "every lane looked once connected again")
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


def test_cases_due_together_run_side_by_side_each_once(prefect_harness, committed, database_url, configure, smtp):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_CASE_RUNS_AT_ONCE=3)
    cases = [new_case(committed, f"MANY-{number}") for number in range(6)]
    with running(Worker(database_url, hourly_lanes(configure))) as worker:
        assert worker.lanes[0].at_once == 3
        wait_for(lambda: all(served(committed, case_id, runs=1, notices=0)() for case_id in cases), "six cases run")
        for case_id in cases:
            record_suspicious_read(committed, case_id)
        wait_for(lambda: all(served(committed, case_id, runs=2, notices=1)() for case_id in cases), "six events")
    assert sorted(mail.recipients[0] for mail in smtp.received) == ["nav@center.test"] * 6
    runs = flow_runs_of(committed, cases)
    assert len({run.id for run in runs}) == 12, "each request its own run: no case ran twice at once"
    assert all(run.state.is_completed() and f"case:{run.name.removeprefix('case-')}" in run.tags for run in runs)
