"""SIGKILL a sweep worker 10 times at random points inside the sweep; the rerun leaves each alert once.

The sweep is one SQL statement in one transaction. A killed worker leaves its backend running the
statement until it notices the client is gone, holding the rows it inserted; the next worker waits
on them, so every kill really lands in a sweep that is in progress. Afterwards one rerun must leave
exactly one unresolved alert per overdue step and exactly one notification per alert and recipient.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.faults.conftest import kill, read_line, worker
from tracking.alerts.sweep import sweep_overdue
from tracking.notify.recipients import for_alert_level

pytestmark = pytest.mark.faults

CASES = 8000
KILLS = 10

# Connects before printing 'ready', so what follows 'ready' is the sweep and its commit (or rollback).
# A full pass every time: once one worker has committed, an incremental sweep at the same moment
# would have nothing to read, and the kills would land after it.
SWEEP_WORKER = """
import sys
from datetime import datetime
from sqlmodel import Session
from tracking.alerts.sweep import sweep_overdue
from tracking.db import get_engine
from tracking.pathway.definition import all_pathways
moment, finish = datetime.fromisoformat(sys.argv[1]), sys.argv[2]
pathways = all_pathways()
with Session(get_engine()) as session:
    session.connection()
    print('ready', flush=True)
    sweep_overdue(session, moment, pathways=pathways, full=True)  # all of it each time, not what changed
    session.commit() if finish == 'commit' else session.rollback()
    print('done', flush=True)
"""


def bulk_overdue_cases(engine, count: int, opened_at) -> None:
    """Insert `count` open cases, each with one overdue magnification step (valid rows, via SQL)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                WITH p AS (
                    INSERT INTO patients (mrn, given_name, family_name, birth_date, created_at)
                    SELECT 'KILL-' || n, 'Synthetic', 'Patient' || n, DATE '1970-01-01', :at
                    FROM generate_series(1, :count) AS n RETURNING id
                ), c AS (
                    INSERT INTO cases (patient_id, finding_type, laterality, density, birads, pathway_name,
                                       pathway_version, status, opened_at, version)
                    SELECT id, 'calcifications', 'left', 'c', '0', 'calcifications', 1, 'open', :at, 1 FROM p
                    RETURNING id
                ), e AS (
                    INSERT INTO case_events (case_id, kind, payload, outcome, actor, occurred_at, recorded_at,
                                             idempotency_key)
                    SELECT id, 'case_opened', '{}', '{}', 'bulk', :at, :at, 'kill-open-' || id FROM c
                    RETURNING id, case_id
                )
                INSERT INTO steps (case_id, kind, laterality, status, due_at, result, created_by_event_id, created_at)
                SELECT case_id, 'magnification_views', 'left', 'pending', CAST(:at AS timestamptz) + interval '7 days',
                       '{}', id, :at
                FROM e
                """
            ),
            {"count": count, "at": opened_at},
        )


def committed_counts(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM notifications)")
        ).one()


def test_sigkill_ten_times_mid_sweep_then_rerun_leaves_one_alert_per_overdue_step(committed, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ESCALATION_EMAIL="lead@center.test",
              WORKUP_ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts")  # fmt: skip
    recipients = {(item.channel, item.address) for item in for_alert_level(3)}
    assert recipients == {("email", "lead@center.test"), ("webhook", "http://127.0.0.1:9/alerts")}
    bulk_overdue_cases(committed, CASES, now)
    moment = (now + timedelta(days=30)).isoformat()  # 23 days overdue: level 3, two recipients

    # How long one sweep takes in a worker, measured from 'ready' to 'done' (rolled back: nothing kept).
    calibration = worker(SWEEP_WORKER, moment, "rollback")
    assert read_line(calibration) == "ready", calibration.stderr.read()
    started = time.monotonic()
    assert read_line(calibration) == "done", calibration.stderr.read()
    window = time.monotonic() - started
    assert calibration.wait(timeout=10) == 0
    assert committed_counts(committed) == (0, 0)

    killed_mid_sweep = 0
    for _ in range(KILLS):
        process = worker(SWEEP_WORKER, moment, "commit")
        assert read_line(process) == "ready", process.stderr.read()
        time.sleep(random.uniform(0.0, window))  # where in the sweep the kill lands, not a clock in the domain
        killed = kill(process)
        finished = read_line(process) == "done"
        assert killed or finished  # a worker the kill came too late for has finished its sweep
        killed_mid_sweep += not finished
        # The sweep is all or nothing: a kill never leaves part of it committed.
        assert committed_counts(committed) in {(0, 0), (CASES, CASES * len(recipients))}
    assert killed_mid_sweep > KILLS // 2, f"only {killed_mid_sweep} of {KILLS} kills landed inside a sweep"

    with Session(committed) as session:
        sweep_overdue(session, now + timedelta(days=30))  # waits for the killed sweeps' backends to give up
        session.commit()
    with committed.connect() as connection:
        per_step = connection.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE n = 1) FROM "
                "(SELECT s.id, count(a.id) AS n FROM steps s "
                " LEFT JOIN alerts a ON a.step_id = s.id AND a.status <> 'resolved' GROUP BY s.id) x"
            )
        ).one()
        per_recipient = connection.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE n = 1) FROM "
                "(SELECT alert_id, channel, recipient, count(*) AS n FROM notifications "
                " GROUP BY alert_id, channel, recipient) x"
            )
        ).one()
        alerts, notified_alerts, sent_to = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM alerts), (SELECT count(DISTINCT alert_id) FROM notifications), "
                "(SELECT array_agg(DISTINCT channel || ' ' || recipient) FROM notifications)"
            )
        ).one()
    assert per_step == (CASES, CASES)  # every overdue step has exactly one unresolved alert
    assert alerts == notified_alerts == CASES  # ... and nothing else: no resolved leftovers, no orphan alerts
    assert per_recipient == (CASES * len(recipients), CASES * len(recipients))  # one per alert per recipient
    assert {tuple(item.split(" ", 1)) for item in sent_to} == recipients
