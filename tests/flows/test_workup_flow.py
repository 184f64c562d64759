"""The per-case workup flow: requested durably with the event, claimed by a runner, named and tagged."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tracking.cases.opening import FacilityRef, open_case
from tracking.cases.recording import record_event
from tracking.notify.models import Notification
from tracking.runs.models import CaseRun
from tracking.runs.service import claim_next_case

FACILITY = FacilityRef(name="Flow Imaging", channel="email", contact="films@flow-imaging.test")


def test_recording_leaves_a_run_request_in_the_same_transaction(session, now):
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now)
    runs = session.exec(select(CaseRun.reason, CaseRun.status).where(CaseRun.case_id == opened.case_id)).all()
    assert sorted(runs) == [("case_opened", "pending"), ("magnification_result", "pending")]
    session.rollback()
    assert session.execute(text("SELECT count(*) FROM case_runs")).scalar() == 0  # gone with the transaction


def test_runner_runs_the_workup_flow_once_per_case(prefect_harness, committed, now, smtp, configure):
    from prefect.client.orchestration import get_client

    from flows.workup import run_pending_case_runs

    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(facilities=[FACILITY]), actor="nav", now=now).case_id
        record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now)
        session.commit()
    result = run_pending_case_runs(now=now)
    assert result == {"done": 1, "failed": 0, "waiting": 0}  # two requests for one case: one run
    assert sorted(mail.recipients[0] for mail in smtp.received) == ["films@flow-imaging.test", "nav@center.test"]
    with committed.connect() as connection:
        runs = connection.execute(text("SELECT status, flow_run_id FROM case_runs ORDER BY id")).all()
    assert [status for status, _ in runs] == ["done", "done"]
    assert runs[0].flow_run_id and runs[0].flow_run_id == runs[1].flow_run_id
    # Prefect's history outlives the tests' tables (case ids repeat): read this run by its id.
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(runs[0].flow_run_id)
    assert flow_run.name == f"case-{case_id}" and f"case:{case_id}" in flow_run.tags
    assert flow_run.state.is_completed()
    # an event later: a new request, a new run, and nothing sent twice
    with Session(committed) as session:
        record_event(session, case_id, "ultrasound_result", {"findings": "no mass"}, actor="rad", now=now)
        session.commit()
    assert run_pending_case_runs(now=now + timedelta(minutes=1)) == {"done": 1, "failed": 0, "waiting": 0}
    assert len(smtp.received) == 2
    assert run_pending_case_runs(now=now + timedelta(minutes=2)) == {"done": 0, "failed": 0, "waiting": 0}


def test_a_case_held_by_one_runner_is_skipped_by_another(committed, now):
    with Session(committed) as session:
        first = open_case(session, seed_opening(mrn="HELD-1"), actor="nav", now=now).case_id
        second = open_case(session, seed_opening(mrn="HELD-2"), actor="nav", now=now).case_id
        session.commit()
    holding = threading.Event()
    release = threading.Event()

    def hold_first():
        with Session(committed) as session:
            assert claim_next_case(session)[0] == first
            holding.set()
            release.wait(timeout=10)
            session.rollback()  # a crash: the claim is released, nothing is marked done

    thread = threading.Thread(target=hold_first)
    thread.start()
    holding.wait(timeout=10)
    with Session(committed) as session:
        assert claim_next_case(session)[0] == second  # skip locked, no waiting
        session.rollback()
    release.set()
    thread.join(timeout=10)
    with Session(committed) as session:
        assert claim_next_case(session)[0] == first  # released, so claimable again
        pending = session.exec(select(CaseRun).where(CaseRun.status == "pending")).all()
        assert len(pending) == 2


def test_failed_run_is_recorded_and_retried(prefect_harness, committed, now, configure, monkeypatch):
    """A deterministic failure counts, backs off, and the claimer pass ends Failed; the next pass retries."""
    import flows.workup as workup_module
    from flows.workup import CaseRunsFailed, run_pending_case_runs

    with Session(committed) as session:
        open_case(session, seed_opening(), actor="nav", now=now)
        session.commit()

    def broken(case_id, moment):
        raise RuntimeError("facility directory unavailable")

    monkeypatch.setattr(workup_module, "run_case", broken)
    with pytest.raises(CaseRunsFailed, match="1 case run"):
        run_pending_case_runs(now=now)
    with committed.connect() as connection:
        row = connection.execute(
            text("SELECT status, attempts, failures, last_error, next_attempt_at FROM case_runs")
        ).one()
    assert row == ("pending", 1, 1, "RuntimeError: facility directory unavailable", now + timedelta(seconds=15))
    monkeypatch.undo()
    assert run_pending_case_runs(now=now) == {"done": 0, "failed": 0, "waiting": 0}  # still backing off
    assert run_pending_case_runs(now=now + timedelta(minutes=1)) == {"done": 1, "failed": 0, "waiting": 0}
    with Session(committed) as session:
        queued = session.exec(select(Notification.kind, Notification.recipient).order_by(Notification.id)).all()
    assert queued == [
        ("prior_film_request", "films@northside.test"),
        ("prior_film_request", "http://127.0.0.1:9/priors"),
    ]


def test_five_deterministic_failures_mark_the_request_failed_and_retry_puts_it_back(
    prefect_harness, committed, now, monkeypatch
):
    import flows.workup as workup_module
    from flows.workup import CaseRunsFailed, run_pending_case_runs
    from tracking.runs.service import MAX_RUN_FAILURES, list_case_runs, retry_case_runs

    with Session(committed) as session:
        case_id = open_case(session, seed_opening(), actor="nav", now=now).case_id
        session.commit()
    monkeypatch.setattr(workup_module, "run_case", lambda case_id, moment: 1 / 0)
    moment = now
    for _ in range(MAX_RUN_FAILURES + 2):
        with contextlib.suppress(CaseRunsFailed):
            run_pending_case_runs(now=moment)
        moment += timedelta(hours=1)
    with Session(committed) as session:
        (failed,) = list_case_runs(session, status="failed")
        assert (failed.run.case_id, failed.run.failures, failed.run.attempts) == (case_id, 5, 5)
        assert list_case_runs(session, status="pending") == []
    monkeypatch.undo()
    with Session(committed) as session:
        assert retry_case_runs(session, actor="ops:kim", now=moment, all_failed=True) == [failed.run.id]
        session.commit()
    assert run_pending_case_runs(now=moment)["done"] == 1
    with committed.connect() as connection:
        audit = connection.execute(text("SELECT actor, action FROM audit_log WHERE action LIKE 'case_run%'")).all()
    assert audit == [("ops:kim", "case_run.retried")]


def test_an_outage_never_counts_and_the_pass_stops_at_it(prefect_harness, committed, now, monkeypatch):
    """Prefect (or the network) away: every request waits with backoff, none is ever marked failed."""
    import httpx

    import flows.workup as workup_module
    from flows.workup import run_pending_case_runs

    with Session(committed) as session:
        for number in range(3):
            open_case(session, seed_opening(mrn=f"OUT-{number}"), actor="nav", now=now)
        session.commit()
    calls = []

    def away(case_id, moment):
        calls.append(case_id)
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(workup_module, "run_case", away)
    moment = now
    for _ in range(20):  # four times the old budget of five
        assert run_pending_case_runs(now=moment)["failed"] == 0
        moment += timedelta(minutes=5)
    assert 0 < len(calls) <= 20  # at most one try per pass (the pass stops at the outage), never one per case
    with committed.connect() as connection:
        rows = connection.execute(text("SELECT status, failures FROM case_runs ORDER BY id")).all()
    assert rows == [("pending", 0)] * 3
    monkeypatch.undo()
    assert run_pending_case_runs(now=moment) == {"done": 3, "failed": 0, "waiting": 0}
