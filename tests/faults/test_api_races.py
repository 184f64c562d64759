"""Concurrent API clients over real HTTP to a uvicorn subprocess on the shared test database.

Two navigators post different events to one case with the same If-Match version at the same
moment: one wins (201), the other is refused (409) and writes nothing. Three posts of one event
with one Idempotency-Key at the same moment record it once: 201 once, 200 (replayed) twice.

Each client uses its own API token: requests with the same token would queue behind each other on
the token's last-used row before reaching the code under test, and the race would be lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tests.faults.conftest import navigator_tokens
from tracking.cases.opening import open_case

pytestmark = pytest.mark.faults

ROUNDS = 5


@dataclass
class Sent:
    started: float
    finished: float
    response: httpx.Response


def fresh_case(engine, mrn: str) -> int:
    with Session(engine) as session:
        case_id = open_case(session, seed_opening(mrn=mrn, facilities=[]), actor="test", now=datetime.now(UTC)).case_id
        session.commit()
    return case_id


@pytest.fixture
def clients(api_server) -> Iterator:
    """clients(*tokens): one keep-alive HTTP client per token, already connected to the server."""
    with ExitStack() as stack:

        def make(*tokens: str) -> list[httpx.Client]:
            made = [stack.enter_context(httpx.Client(base_url=api_server, timeout=10.0,
                                                     headers={"Authorization": f"Bearer {token}"}))
                    for token in tokens]  # fmt: skip
            for client in made:
                assert client.get("/healthz").status_code == 200  # open the connection before the race
            return made

        yield make


def at_once(clients: list[httpx.Client], path: str, bodies: list[dict], headers: list[dict]) -> list[Sent]:
    """Post bodies[n] with headers[n] from clients[n], all released by one barrier."""
    barrier = threading.Barrier(len(clients))
    results: list[Sent | BaseException | None] = [None] * len(clients)

    def post(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            started = time.monotonic()
            response = clients[n].post(path, json=bodies[n], headers=headers[n])
            results[n] = Sent(started, time.monotonic(), response)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread below
            results[n] = error

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    for result in results:
        if not isinstance(result, Sent):
            raise AssertionError(f"a racing request failed: {result!r}")
    return results


def case_rows(engine, case_id: int) -> tuple[int, list[tuple[int, str, str]], int]:
    """(case version, [(event id, kind, idempotency key)], event.recorded audit rows) for one case."""
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version FROM cases WHERE id = :id"), {"id": case_id}).scalar_one()
        events = connection.execute(
            text("SELECT id, kind, idempotency_key FROM case_events WHERE case_id = :id ORDER BY id"), {"id": case_id}
        ).all()
        audits = connection.execute(
            text("SELECT count(*) FROM audit_log WHERE case_id = :id AND action = 'event.recorded'"), {"id": case_id}
        ).scalar_one()
    return version, [tuple(row) for row in events], audits


def test_two_clients_with_the_same_if_match_one_wins_one_gets_409(committed, clients):
    racers = clients(*navigator_tokens(committed, "nav-race-a", "nav-race-b"))
    bodies = [
        {"kind": "ultrasound_result", "data": {"findings": "none"}},
        {"kind": "magnification_result", "data": SUSPICIOUS_MAG},
    ]
    overlapped = 0
    for round_ in range(ROUNDS):
        case_id = fresh_case(committed, f"RACE-{round_}")
        sent = at_once(racers, f"/api/cases/{case_id}/events", bodies, [{"If-Match": '"1"'}] * 2)
        statuses = [item.response.status_code for item in sent]
        assert sorted(statuses) == [201, 409], [item.response.text for item in sent]
        winner, loser = (0, 1) if statuses[0] == 201 else (1, 0)
        assert "changed since you read it" in sent[loser].response.json()["error"]
        assert sent[winner].response.headers["ETag"] == '"2"'
        overlapped += sent[loser].started < sent[winner].finished and sent[winner].started < sent[loser].finished
        version, events, audits = case_rows(committed, case_id)
        assert version == 2
        assert [(event_id, kind) for event_id, kind, _ in events] == [
            (events[0][0], "case_opened"), (sent[winner].response.json()["event_id"], bodies[winner]["kind"]),
        ]  # fmt: skip
        assert audits == 1  # the refused request wrote nothing
    assert overlapped >= 1, "the two requests never overlapped: this was not a race"


def test_one_event_posted_three_times_at_once_with_one_key_is_recorded_once(committed, clients):
    posters = clients(*navigator_tokens(committed, "nav-replay", tokens_each=3))
    overlapped = 0
    for round_ in range(3):
        case_id = fresh_case(committed, f"REPLAY-{round_}")
        key = f"mag-at-once-{round_}"
        body = {"kind": "magnification_result", "data": SUSPICIOUS_MAG}
        sent = at_once(posters, f"/api/cases/{case_id}/events", [body] * 3, [{"Idempotency-Key": key}] * 3)
        overlapped += max(item.started for item in sent) < min(item.finished for item in sent)
        answers = sorted((item.response for item in sent), key=lambda response: response.status_code)
        assert [answer.status_code for answer in answers] == [200, 200, 201], [a.text for a in answers]
        assert len({answer.json()["event_id"] for answer in answers}) == 1
        assert [answer.json()["replayed"] for answer in answers] == [True, True, False]
        assert {answer.json()["case_version"] for answer in answers} == {2}
        version, events, audits = case_rows(committed, case_id)
        assert version == 2 and audits == 1
        assert [(event_id, kind, stored_key) for event_id, kind, stored_key in events[1:]] == [
            (answers[0].json()["event_id"], "magnification_result", key)
        ]
    assert overlapped >= 1, "the three requests never overlapped: this was not a race"
