"""A real Prefect server goes away longer than the old retry budget (five 15-second passes): every
run request waits, none is marked failed, and once the server is back every case runs and every
outside facility is asked exactly once. A claimer pass in which a case fails ends Failed in Prefect.

Scaled-out mode as deployed: the claimer runs in its own process with PREFECT_API_URL naming a
real `prefect server start` whose history is on PostgreSQL. The clock of each pass is injected
(six minutes apart, past the longest backoff), so nothing waits on a wall clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import seed_opening
from tests.flows.conftest import MailSink, free_port
from tests.prefect_server import running_prefect_server
from tracking.cases.opening import FacilityRef, open_case
from tracking.settings import REPO_ROOT

pytestmark = pytest.mark.faults

FACILITIES = [
    FacilityRef(name="Outage Northside Imaging", channel="email", contact="films@outage-northside.test"),
    FacilityRef(name="Outage Lakeview Health", channel="email", contact="records@outage-lakeview.test"),
]
CASES = 6
OLD_BUDGET = 5  # tries before a request was marked failed, whatever the cause

CLAIMER = """
import json, sys
from datetime import datetime
from flows.workup import run_pending_case_runs, CaseRunsFailed
mode, moments = sys.argv[1], sys.argv[2:]
for moment in moments:
    now = datetime.fromisoformat(moment)
    if mode == "mid-pass":  # the claimer was already running when Prefect went away
        print(json.dumps(run_pending_case_runs.fn(now=now)), flush=True)
    else:
        state = run_pending_case_runs(now=now, return_state=True)
        print(json.dumps({"state": state.type.value, "flow_run_id": str(state.state_details.flow_run_id)}), flush=True)
"""

BROKEN_CLAIMER = """
import json, sys
from datetime import datetime
import flows.workup as workup
real = workup.run_case
broken = int(sys.argv[1])
def run_case(case_id, now):
    if case_id == broken:
        raise ValueError("a deterministic fault injected by the test")
    return real(case_id, now)
workup.run_case = run_case
state = workup.run_pending_case_runs(now=datetime.fromisoformat(sys.argv[2]), return_state=True)
print(json.dumps({"state": state.type.value, "flow_run_id": str(state.state_details.flow_run_id)}), flush=True)
"""


def claimer(code: str, args: list[str], env: dict[str, str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture
def mail():
    sink = MailSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


def test_prefect_away_longer_than_the_old_budget_then_every_case_runs_and_every_facility_is_asked_once(
    committed, server_url, tmp_path, mail
):
    start = datetime.now(UTC).replace(microsecond=0)
    with Session(committed) as session:
        case_ids = [
            open_case(session, seed_opening(mrn=f"OUTAGE-{n}", facilities=FACILITIES), actor="nav", now=start).case_id
            for n in range(CASES)
        ]
        session.commit()
    database_url = committed.url.render_as_string(hide_password=False)
    with running_prefect_server(tmp_path, server_url) as prefect:
        env = {
            **prefect.client_env(),
            "DATABASE_URL": database_url,
            "WORKUP_SMTP_HOST": "127.0.0.1",
            "WORKUP_SMTP_PORT": str(mail.port),
            "WORKUP_MAIL_FROM": "workup@center.test",
            "PREFECT_CLIENT_MAX_RETRIES": "0",  # fail fast against the stopped server
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        prefect.stop()
        passes = [(start + timedelta(minutes=6 * n)).isoformat() for n in range(OLD_BUDGET + 3)]
        reports = claimer(CLAIMER, ["mid-pass", *passes], env)
        assert len(reports) == OLD_BUDGET + 3
        assert all(report == {"done": 0, "failed": 0, "waiting": 1} for report in reports)  # one try, then wait
        with committed.connect() as connection:
            runs = connection.execute(text("SELECT status, failures, attempts, last_error FROM case_runs")).all()
            queued = connection.execute(
                text("SELECT count(*) FROM notifications WHERE kind = 'prior_film_request' AND status = 'pending'")
            ).scalar_one()
        assert {(status, failures) for status, failures, _, _ in runs} == {("pending", 0)}  # none gave up
        assert sum(attempts for _, _, attempts, _ in runs) >= OLD_BUDGET + 3
        assert all(error is None or error.startswith("outage: ") for *_, error in runs)
        assert queued == CASES * len(FACILITIES)  # the requests were in the outbox from the opening on
        assert mail.received == []

        prefect.start()
        back = (start + timedelta(minutes=6 * (OLD_BUDGET + 4))).isoformat()
        (report,) = claimer(CLAIMER, ["flow", back], env)
        assert report["state"] == "COMPLETED"
        (again,) = claimer(CLAIMER, ["flow", (start + timedelta(minutes=6 * (OLD_BUDGET + 5))).isoformat()], env)
        assert again["state"] == "COMPLETED"
        with committed.connect() as connection:
            runs = connection.execute(text("SELECT case_id, status, flow_run_id FROM case_runs")).all()
        assert {status for _, status, _ in runs} == {"done"} and all(flow_run for *_, flow_run in runs)
        asked = Counter((mail.recipients[0], mail.subject) for mail in mail.received)
        assert sum(asked.values()) == CASES * len(FACILITIES) and set(asked.values()) == {1}  # each exactly once
        assert {recipient for recipient, _ in asked} == {facility.contact for facility in FACILITIES}
        assert len(set(mail.message_ids())) == CASES * len(FACILITIES)
        with httpx.Client(base_url=prefect.api_url, timeout=10) as client:
            flow_runs = client.post(
                "/flow_runs/filter", json={"flow_runs": {"name": {"like_": "case-"}}, "limit": 200}
            ).json()
        names = Counter(run["name"] for run in flow_runs if run["state"]["type"] == "COMPLETED")
        assert set(names) == {f"case-{case_id}" for case_id in case_ids}


def test_a_claimer_pass_in_which_a_case_fails_ends_failed_in_prefect(committed, server_url, tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(committed) as session:
        ids = [open_case(session, seed_opening(mrn=f"FAIL-{n}", facilities=[]), actor="nav", now=now).case_id
               for n in range(2)]  # fmt: skip
        session.commit()
    database_url = committed.url.render_as_string(hide_password=False)
    with running_prefect_server(tmp_path, server_url) as prefect:
        env = {**prefect.client_env(), "DATABASE_URL": database_url,
               "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
        (report,) = claimer(BROKEN_CLAIMER, [str(ids[0]), now.isoformat()], env)
        assert report["state"] == "FAILED"
        with httpx.Client(base_url=prefect.api_url, timeout=10) as client:
            claimer_run = client.get(f"/flow_runs/{report['flow_run_id']}").json()
        assert claimer_run["state"]["type"] == "FAILED"
        assert "1 case run(s) failed" in (claimer_run["state"]["message"] or "")
    with committed.connect() as connection:
        rows = dict(connection.execute(text("SELECT case_id, status FROM case_runs")).all())
    assert rows == {ids[0]: "pending", ids[1]: "done"}  # the other case still ran; the broken one waits to retry
