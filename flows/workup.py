"""The per-case `workup` flow and the runner that claims "case needs a run" rows.

The outside work a decision calls for is already in the outbox when a run is requested (ADR 7);
the flow re-queues it (idempotent, a safety net) and delivers the case's notifications, so each
case's orchestration shows in Prefect. An outage (Prefect API, database, network) ends the pass
and the requests wait with backoff, never counting toward giving up; a deterministic failure
counts, and a claimer pass in which any case failed ends Failed.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, tags, task
from prefect.runtime import flow_run

from flows.runtime import flow_now
from tracking.db import get_engine, session_scope
from tracking.logs import phi_safe, scrub
from tracking.notify.delivery import deliver_due
from tracking.outages import is_outage
from tracking.runs.outside_work import queue_outside_work
from tracking.runs.service import claim_next_case, fail_case_runs, finish_case_runs


class CaseRunsFailed(RuntimeError):
    """Some cases' runs failed in this pass (recorded on their rows); the pass itself ends Failed."""


@task(retries=3, retry_delay_seconds=[2, 10, 60])
@phi_safe
def queue_case_outside_work(case_id: int, now: datetime) -> dict:
    with session_scope() as session:
        return queue_outside_work(session, case_id, now).as_dict()


@task(retries=3, retry_delay_seconds=[2, 10, 60])
@phi_safe
def deliver_case_notifications(case_id: int, now: datetime) -> dict:
    return deliver_due(get_engine(), now, case_id=case_id).as_dict()


@flow(name="workup", flow_run_name="case-{case_id}", log_prints=False)
@phi_safe
def workup(case_id: int, now: datetime | None = None) -> dict:
    """One case's orchestration: queue the outside work its decisions call for, then send it."""
    moment = flow_now(now)
    queued = queue_case_outside_work(case_id, moment)
    delivered = deliver_case_notifications(case_id, moment)
    get_run_logger().info("case %s: queued %s, delivery %s", case_id, queued, delivered)
    return {"case_id": case_id, "queued": queued, "delivery": delivered}


def run_case(case_id: int, now: datetime) -> str | None:
    """Run the workup flow for one case, tagged with its id; returns the flow run id."""
    with tags(f"case:{case_id}", "workup"):
        state = workup(case_id, now, return_state=True)
    state.result()  # raises when the flow failed
    return str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None


def _describe(error: BaseException) -> str:
    """The error's first line, scrubbed of values (it is shown on /ops and by `workup runs`)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return scrub(f"{type(error).__name__}: {first}".rstrip(": "))


@flow(name="run_pending_case_runs")
@phi_safe
def run_pending_case_runs(now: datetime | None = None, limit: int = 100) -> dict:
    """Claim cases that need a run (FOR UPDATE SKIP LOCKED) and run each one's workup flow."""
    moment = flow_now(now)
    done, failed, waiting = 0, [], 0
    for _ in range(limit):
        with session_scope() as session:
            claimed = claim_next_case(session, skip=failed, now=moment)
            if claimed is None:
                break
            case_id, run_ids = claimed
            try:
                flow_run_id = run_case(case_id, moment)
            except Exception as error:  # recorded on the rows; retried after a backoff
                outage = is_outage(error)
                fail_case_runs(session, run_ids, now=moment, error=_describe(error), outage=outage)
                if outage:
                    waiting += 1
                    break  # the service is away: the rest wait for the next pass
                failed.append(case_id)
                continue
            finish_case_runs(session, run_ids, now=moment, flow_run_id=flow_run_id)
            done += 1
    report = {"done": done, "failed": len(failed), "waiting": waiting}
    if flow_run.get_id():
        get_run_logger().info("case runs: %s", report)
    if failed:
        raise CaseRunsFailed(f"{len(failed)} case run(s) failed (cases {', '.join(map(str, failed))}); {report}")
    return report
