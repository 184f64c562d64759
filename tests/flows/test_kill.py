"""SIGKILL a worker process in the middle of delivery or of a sweep; a rerun leaves everything exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.flows.conftest import MailSink
from tracking.alerts.sweep import sweep_overdue
from tracking.notify.delivery import deliver_due
from tracking.notify.outbox import enqueue
from tracking.notify.recipients import Recipient

pytestmark = pytest.mark.faults


class SlowMailSink(MailSink):
    """Takes a moment per message, so a kill lands in the middle of a delivery run."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import asyncio

        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def worker(code: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the worker ended early ({process.returncode}): {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.01)


def test_sigkill_during_delivery_then_rerun_delivers_each_once(committed, database_url, now, configure):
    sink = SlowMailSink(port=__import__("tests.flows.conftest", fromlist=["free_port"]).free_port())
    sink.start()
    configure(WORKUP_SMTP_HOST="127.0.0.1", WORKUP_SMTP_PORT=sink.port)
    try:
        with Session(committed) as session:
            for number in range(40):
                enqueue(
                    session, kind="event_warning", recipients=[Recipient("email", f"nav{number}@center.test")],
                    dedupe_key=f"kill:{number}", now=now, payload={"event": "assessment"},
                )  # fmt: skip
            session.commit()
        code = (
            "from datetime import datetime\n"
            "from tracking.db import get_engine\n"
            "from tracking.notify.delivery import deliver_due\n"
            f"deliver_due(get_engine(), datetime.fromisoformat({now.isoformat()!r}))\n"
        )
        env = {"DATABASE_URL": database_url, "WORKUP_SMTP_HOST": "127.0.0.1", "WORKUP_SMTP_PORT": str(sink.port)}
        process = worker(code, env)
        kill_after = random.randint(5, 20)
        wait_for(lambda: len(sink.received) >= kill_after, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        delivered_before_rerun = len(sink.received)
        assert delivered_before_rerun < 40  # it really died part-way
        deliver_due(committed, now)
        with committed.connect() as connection:
            statuses = connection.execute(text("SELECT status, count(*) FROM notifications GROUP BY status")).all()
            expected_ids = {row[0] for row in connection.execute(text("SELECT dedupe_key FROM notifications")).all()}
        assert statuses == [("delivered", 40)]
        from tracking.notify.channels import message_id

        received = sink.message_ids()
        assert set(received) == {message_id(key) for key in expected_ids}
        # At most the one message in flight at the kill can arrive twice, and it carries the same
        # Message-ID, so the receiver recognises it. Everything else arrived exactly once.
        assert len(received) - len(set(received)) <= 1
    finally:
        sink.stop()


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


def test_sigkill_during_sweeps_then_rerun_leaves_one_alert_per_overdue_step(committed, database_url, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    bulk_overdue_cases(committed, 20000, now)
    moment = now + timedelta(days=30)
    code = (
        "import sys\n"
        "from datetime import datetime\n"
        "from tracking.db import session_scope\n"
        "from tracking.alerts.sweep import sweep_overdue\n"
        "from tracking.pathway.definition import all_pathways\n"
        "pathways = all_pathways()\n"
        "print('ready', flush=True)\n"
        "with session_scope() as session:\n"
        f"    sweep_overdue(session, datetime.fromisoformat({moment.isoformat()!r}), pathways=pathways)\n"
        "print('done', flush=True)\n"
    )
    env = {"DATABASE_URL": database_url, "WORKUP_NAVIGATOR_EMAIL": "nav@center.test"}
    killed_mid_sweep = 0
    for _ in range(4):
        process = worker(code, env)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.0, 0.4))  # a random point inside the sweep (not a clock in the test)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed_mid_sweep += process.stdout.read().strip() != "done"
    with Session(committed) as session:
        sweep_overdue(session, moment)
        session.commit()
    with committed.connect() as connection:
        per_step = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1) FROM "
                "(SELECT step_id, count(*) AS n FROM alerts WHERE status <> 'resolved' GROUP BY step_id) x"
            )
        ).one()
        notes = connection.execute(text("SELECT count(*), count(DISTINCT alert_id) FROM notifications")).one()
    assert killed_mid_sweep >= 1
    assert per_step == (20000, 0)
    assert notes == (20000, 20000)
