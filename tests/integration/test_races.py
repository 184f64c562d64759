"""Two connections racing on the same case: exactly one wins, the other gets a clear error."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tracking.cases.errors import GuardRefused, VersionConflict
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event

pytestmark = pytest.mark.race


def race(engine, attempts):
    """Run each attempt in its own connection and transaction, released together; collect outcomes."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = [None] * len(attempts)

    def run(index, attempt):
        with Session(engine, expire_on_commit=False) as session:
            try:
                barrier.wait(timeout=10)
                outcomes[index] = attempt(session)
                session.commit()
            except Exception as error:  # the outcome under test
                session.rollback()
                outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index, attempt)) for index, attempt in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def opened_case(engine, now) -> int:
    with Session(engine) as session:
        opened = open_case(session, seed_opening(), actor="nav", now=now)
        session.commit()
        return opened.case_id


def event_count(engine, case_id: int) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM case_events WHERE case_id = :id"), {"id": case_id}
        ).scalar()


def test_same_expected_version_exactly_one_wins(committed, now):
    case_id = opened_case(committed, now)
    at = now + timedelta(days=2)

    def magnification(session):
        return record_event(
            session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="a", now=at, expected_version=1
        )

    def ultrasound(session):
        return record_event(
            session, case_id, "ultrasound_result", {"findings": "none"}, actor="b", now=at, expected_version=1
        )

    outcomes = race(committed, [magnification, ultrasound])
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, VersionConflict)]
    winners = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    assert len(winners) == 1 and len(conflicts) == 1, outcomes
    assert winners[0].case_version == 2
    assert event_count(committed, case_id) == 2  # case_opened + the winner


def test_same_event_twice_without_version_is_decided_on_the_latest_state(committed, now):
    case_id = opened_case(committed, now)
    at = now + timedelta(days=2)

    def magnification(session):
        return record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="a", now=at)

    outcomes = race(committed, [magnification, magnification])
    refused = [outcome for outcome in outcomes if isinstance(outcome, GuardRefused)]
    assert len(refused) == 1, outcomes
    assert "no open step for spot-magnification views" in str(refused[0])
    assert event_count(committed, case_id) == 2


def test_same_idempotency_key_at_once_records_once(committed, now):
    case_id = opened_case(committed, now)
    at = now + timedelta(days=2)

    def magnification(session):
        return record_event(
            session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="a", now=at, idempotency_key="same-key"
        )

    outcomes = race(committed, [magnification, magnification, magnification])
    assert all(not isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert len({outcome.event_id for outcome in outcomes}) == 1
    assert sorted(outcome.replayed for outcome in outcomes) == [False, True, True]
    assert event_count(committed, case_id) == 2
