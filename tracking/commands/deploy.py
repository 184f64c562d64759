"""`workup deploy`: register the scheduled flows as Prefect deployments (scaled-out mode)."""

from __future__ import annotations

import typer

from tracking.cases.errors import InvalidInput, WorkupError
from tracking.commands.common import console, print_json, table


class PrefectUnavailable(WorkupError):
    """The Prefect API could not be reached or refused the request."""

    exit_code = 7


def deploy(
    work_pool: str = typer.Option("workup", "--work-pool", help="Prefect work pool (type process) to deploy to"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only check config/prefect.yaml; contact no Prefect API"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Create or update the Prefect deployments in config/prefect.yaml, with their schedules."""
    import httpx
    from prefect.deployments.runner import DeploymentApplyError
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import deploy_all

    api_url = PREFECT_API_URL.value()
    if not dry_run and not api_url:
        raise InvalidInput(
            "set PREFECT_API_URL to the Prefect server's API (e.g. http://prefect-server:4200/api); "
            "without a Prefect server the embedded scheduler runs the flows"
        )
    try:
        rows = deploy_all(work_pool=work_pool, dry_run=dry_run)
    except (httpx.HTTPError, DeploymentApplyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PrefectUnavailable(f"Prefect API unavailable at {api_url}: {reason}") from None
    if as_json:
        print_json(rows)
        return
    title = f"Deployments on work pool {work_pool!r}" + (" (dry run: nothing registered)" if dry_run else "")
    result = table(title, ["Deployment", "Flow", "Entrypoint", "Schedule", "Id"])
    for row in rows:
        result.add_row(row["name"], row["flow"], row["entrypoint"], row["schedule"], row["id"] or "-")
    console.print(result)
