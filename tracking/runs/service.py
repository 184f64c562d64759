"""Ask for a workup run in the caller's transaction; claim, finish, fail and retry runs.

A run request is for visibility and delivery: the outside work the decision calls for is queued
in the same transaction (ADR 7), so a request that waits or fails delays delivery only. Outages
(database, Prefect API, network) back off and never count; only deterministic failures count,
and after MAX_RUN_FAILURES the request is marked failed, shown to operations and alerted on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.given_up import given_up_rows
from tracking.pathway.vocabulary import CaseRunStatus
from tracking.runs.models import CaseRun
from tracking.runs.outside_work import queue_outside_work

MAX_RUN_FAILURES = 5
RETRY_BASE = timedelta(seconds=15)
RETRY_MAX = timedelta(minutes=5)


def request_case_run(
    session: Session, case_id: int, *, reason: str, now: datetime, event_id: int | None = None
) -> None:
    """Queue the outside work this decision calls for and leave a durable "case needs a run" row.

    Both in the caller's transaction; never calls Prefect.
    """
    queue_outside_work(session, case_id, now, event_id=event_id)
    session.add(CaseRun(case_id=case_id, event_id=event_id, reason=reason, requested_at=now, next_attempt_at=now))


def case_run_insert_from(source: str) -> str:
    """SQL leaving a "case needs a run" row per row of `source` (columns case_id, event_id), like
    request_case_run, for a statement that writes the decision too (tracking/cases/applying.py), which
    also queues the outside work. Binds :run_reason and :now."""
    return f"""
    INSERT INTO case_runs (case_id, event_id, reason, status, requested_at, attempts, failures, next_attempt_at)
    SELECT r.case_id, r.event_id, :run_reason, 'pending', CAST(:now AS timestamptz), 0, 0, CAST(:now AS timestamptz)
    FROM {source} r
    RETURNING id"""


CLAIM_NEXT_CASE = text(
    """
    WITH next AS (
        SELECT case_id FROM case_runs
        WHERE status = 'pending' AND next_attempt_at <= CAST(:now AS timestamptz)
          AND case_id <> ALL(CAST(:skip AS int[]))
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


def claim_next_case(
    session: Session, skip: Collection[int] = (), *, now: datetime | None = None
) -> tuple[int, list[int]] | None:
    """Lock the oldest due case's run requests (skipping rows another runner holds).

    The locks last until the caller's transaction ends: a runner that dies releases them and
    another picks the case up. `skip` leaves out cases (those that failed earlier in this pass);
    `now` leaves out requests still backing off (None: all pending requests).
    Returns (case_id, run ids) or None when nothing is due.
    """
    rows = session.execute(CLAIM_NEXT_CASE, {"skip": list(skip), "now": now if now is not None else "infinity"}).all()
    if not rows:
        return None
    return rows[0].case_id, [row.id for row in rows]


def finish_case_runs(session: Session, run_ids: list[int], *, now: datetime, flow_run_id: str | None) -> None:
    session.execute(
        update(CaseRun)
        .where(col(CaseRun.id).in_(run_ids))
        .values(status=CaseRunStatus.done, finished_at=now, flow_run_id=flow_run_id, attempts=CaseRun.attempts + 1)
    )


FAIL_RUNS = text(
    """
    UPDATE case_runs SET
        attempts = attempts + 1,
        failures = failures + CASE WHEN :outage THEN 0 ELSE 1 END,
        last_error = :error,
        flow_run_id = coalesce(CAST(:flow_run_id AS text), flow_run_id),
        status = CASE WHEN NOT :outage AND failures + 1 >= :max_failures THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN NOT :outage AND failures + 1 >= :max_failures THEN CAST(:now AS timestamptz) END,
        next_attempt_at = CAST(:now AS timestamptz)
            + least(CAST(:retry_max AS interval), CAST(:retry_base AS interval) * power(2, least(attempts, 16)))
    WHERE id = ANY(:ids)
    """
)


def fail_case_runs(
    session: Session,
    run_ids: list[int],
    *,
    now: datetime,
    error: str,
    outage: bool = False,
    flow_run_id: str | None = None,
) -> None:
    """Record a failed try and back off. An outage never counts; MAX_RUN_FAILURES other failures mark it failed."""
    session.execute(
        FAIL_RUNS,
        {
            "error": (("outage: " if outage else "") + error)[:1000],
            "outage": outage,
            "max_failures": MAX_RUN_FAILURES,
            "now": now,
            "ids": run_ids,
            "flow_run_id": flow_run_id,
            "retry_base": RETRY_BASE,
            "retry_max": RETRY_MAX,
        },
    )


@dataclass(frozen=True)
class RunRow:
    run: CaseRun

    def as_dict(self) -> dict:
        run = self.run
        return {
            "run_id": run.id,
            "case_id": run.case_id,
            "reason": run.reason,
            "status": run.status,
            "requested_at": run.requested_at.isoformat(),
            "attempts": run.attempts,
            "failures": run.failures,
            "next_attempt_at": run.next_attempt_at.isoformat() if run.status == CaseRunStatus.pending else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "flow_run_id": run.flow_run_id,
            "last_error": run.last_error,
        }


def list_case_runs(
    session: Session, *, status: str | None = None, case_id: int | None = None, limit: int = 200
) -> list[RunRow]:
    """Run requests, oldest waiting first for pending and failed ones, newest first otherwise."""
    query = select(CaseRun)
    if status is not None:
        query = query.where(CaseRun.status == status)
    if case_id is not None:
        query = query.where(CaseRun.case_id == case_id)
    if status in (CaseRunStatus.pending, CaseRunStatus.failed):
        query = query.order_by(CaseRun.requested_at, CaseRun.id)
    else:
        query = query.order_by(col(CaseRun.id).desc())
    return [RunRow(run) for run in session.exec(query.limit(limit))]


def retry_case_runs(
    session: Session, *, actor: str, now: datetime, run_id: int | None = None, all_failed: bool = False
) -> list[int]:
    """Put failed run requests back in the queue (one by id, or every failed one); returns their ids."""
    runs = given_up_rows(
        session, CaseRun, given_up=CaseRunStatus.failed, item_id=run_id, everything=all_failed, noun="run request"
    )
    for run in runs:
        run.status, run.finished_at, run.failures, run.next_attempt_at = CaseRunStatus.pending, None, 0, now
        session.add(run)
        audit(session, actor=actor, action="case_run.retried", at=now, case_id=run.case_id, run_id=run.id)
    session.flush()
    return [run.id for run in runs]


def stuck_case_runs(session: Session, now: datetime, *, waited_minutes: int, limit: int = 200) -> list[RunRow]:
    """Failed run requests and pending ones older than `waited_minutes`, oldest first."""
    cutoff = now - timedelta(minutes=waited_minutes)
    query = (
        select(CaseRun)
        .where(
            (CaseRun.status == CaseRunStatus.failed)
            | ((CaseRun.status == CaseRunStatus.pending) & (CaseRun.requested_at <= cutoff))
        )
        .order_by(CaseRun.requested_at, CaseRun.id)
        .limit(limit)
    )
    return [RunRow(run) for run in session.exec(query)]
