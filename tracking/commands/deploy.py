"""`workup deploy`: register the scheduled flows as Prefect deployments (scaled-out mode)."""

from __future__ import annotations

import typer

from tracking.commands.common import console, print_json, table


def deploy(
    work_pool: str = typer.Option("workup", "--work-pool", help="Prefect work pool (type process) to deploy to"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only check config/prefect.yaml; contact no Prefect API"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Create or update the Prefect deployments in config/prefect.yaml, with their schedules."""
    from flows.deployments import deploy_all

    rows = deploy_all(work_pool=work_pool, dry_run=dry_run)
    if as_json:
        print_json(rows)
        return
    title = f"Deployments on work pool {work_pool!r}" + (" (dry run: nothing registered)" if dry_run else "")
    result = table(title, ["Deployment", "Flow", "Entrypoint", "Schedule", "Id"])
    for row in rows:
        result.add_row(row["name"], row["flow"], row["entrypoint"], row["schedule"], row["id"] or "-")
    console.print(result)
