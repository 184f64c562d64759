"""Ask for a workup run in the caller's transaction; claim and finish runs for the runner."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import text, update
from sqlmodel import Session

from tracking.pathway.vocabulary import CaseRunStatus
from tracking.runs.models import CaseRun

MAX_RUN_ATTEMPTS = 5


def request_case_run(
    session: Session, case_id: int, *, reason: str, now: datetime, event_id: int | None = None
) -> None:
    """Leave a durable "case needs a run" row; the runner picks it up. Never calls Prefect."""
    session.add(CaseRun(case_id=case_id, event_id=event_id, reason=reason, requested_at=now))


CLAIM_NEXT_CASE = text(
    """
    WITH next AS (
        SELECT case_id FROM case_runs
        WHERE status = 'pending' AND case_id <> ALL(CAST(:skip AS int[]))
        ORDER BY id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    SELECT r.id, r.case_id FROM case_runs r JOIN next USING (case_id)
    WHERE r.status = 'pending'
    ORDER BY r.id
    FOR UPDATE OF r SKIP LOCKED
    """
)


def claim_next_case(session: Session, skip: Collection[int] = ()) -> tuple[int, list[int]] | None:
    """Lock the oldest pending case's run requests (skipping rows another runner holds).

    The locks last until the caller's transaction ends: a runner that dies releases them and
    another picks the case up. `skip` leaves out cases (those that failed earlier in this pass).
    Returns (case_id, run ids) or None when nothing is pending.
    """
    rows = session.execute(CLAIM_NEXT_CASE, {"skip": list(skip)}).all()
    if not rows:
        return None
    return rows[0].case_id, [row.id for row in rows]


def finish_case_runs(session: Session, run_ids: list[int], *, now: datetime, flow_run_id: str | None) -> None:
    session.execute(
        update(CaseRun)
        .where(CaseRun.id.in_(run_ids))
        .values(status=CaseRunStatus.done, finished_at=now, flow_run_id=flow_run_id, attempts=CaseRun.attempts + 1)
    )


FAIL_RUNS = text(
    """
    UPDATE case_runs SET
        attempts = attempts + 1,
        last_error = :error,
        status = CASE WHEN attempts + 1 >= :max_attempts THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN attempts + 1 >= :max_attempts THEN CAST(:now AS timestamptz) END
    WHERE id = ANY(:ids)
    """
)


def fail_case_runs(session: Session, run_ids: list[int], *, now: datetime, error: str) -> None:
    """Count a failed attempt; after MAX_RUN_ATTEMPTS the request is marked failed for operations."""
    session.execute(FAIL_RUNS, {"error": error[:1000], "max_attempts": MAX_RUN_ATTEMPTS, "now": now, "ids": run_ids})
