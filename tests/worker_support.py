"""Helpers for the worker's tests: a case and an event written now, what the worker made of them, and
waiting on a condition with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event

DEADLINE_SECONDS = 60


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.02)


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
