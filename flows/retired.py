"""Deployments an earlier release registered and this one no longer has: `workup deploy` deletes them.

Case runs and delivery used to be deployments a Prefect worker started a process for every 15 and
60 seconds; `workup worker` now runs them in one long-lived process, woken by the database. Left
registered after an upgrade, their schedules would go on starting those processes, so they are
deleted by name (with their scheduled runs; the history of past runs stays in Prefect).
"""

from __future__ import annotations

from contextlib import suppress

RETIRED_DEPLOYMENTS = (
    "run_pending_case_runs/run-pending-case-runs",
    "deliver_notifications/deliver-notifications",
)


def retire_deployments(names: tuple[str, ...] = RETIRED_DEPLOYMENTS) -> list[dict]:
    """Delete each retired deployment that is registered; one row per name: {name, id, change}."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    rows = []
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                rows.append({"name": name, "id": None, "change": "not registered"})
                continue
            with suppress(ObjectNotFound):  # deleted meanwhile by another `workup deploy`
                client.delete_deployment(deployment.id)
            rows.append({"name": name, "id": str(deployment.id), "change": "deleted"})
    return rows
