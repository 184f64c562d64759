"""`workup deploy`: register the scheduled flows as Prefect deployments (scaled-out mode)."""

from __future__ import annotations

import typer

from tracking.cases.errors import InvalidInput, PrefectUnavailable
from tracking.commands.common import console, print_json, table


def deploy(
    work_pool: str = typer.Option("workup", "--work-pool", help="Prefect work pool (type process) to deploy to"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only check config/prefect.yaml and config/prefect-automations.yaml; contact no API"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Create or update the Prefect deployments of config/prefect.yaml (with `prefect deploy`) and the
    automations of config/prefect-automations.yaml (runs whose heartbeats stop are marked Crashed);
    delete the deployments of case runs and delivery an earlier release registered (`workup worker`)."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import deploy_all

    api_url = PREFECT_API_URL.value()
    if not dry_run and not api_url:
        raise InvalidInput(
            "set PREFECT_API_URL to the Prefect server's API (e.g. http://prefect-server:4200/api); "
            "without a Prefect server the embedded scheduler runs the flows"
        )
    try:
        result = deploy_all(work_pool=work_pool, dry_run=dry_run)
    except (httpx.HTTPError, PrefectHTTPStatusError) as error:
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise PrefectUnavailable(f"Prefect API unavailable at {api_url}: {reason}") from None
    if as_json:
        print_json(result)
        return
    suffix = " (dry run: nothing registered)" if dry_run else ""
    deployments = table(f"Deployments on work pool {work_pool!r}{suffix}", ["Deployment", "Flow", "Entrypoint",
                                                                            "Schedule", "Id"])  # fmt: skip
    for row in result["deployments"]:
        deployments.add_row(row["name"], row["flow"], row["entrypoint"], row["schedule"], row["id"] or "-")
    console.print(deployments)
    automations = table(f"Automations{suffix}", ["Automation", "Rule", "Id", "Change"])
    for row in result["automations"]:
        automations.add_row(row["name"], row["rule"], row["id"] or "-", row["change"] or "-")
    console.print(automations)
    retired = table(f"Retired deployments (run by `workup worker` now){suffix}", ["Deployment", "Id", "Change"])
    for row in result["retired"]:
        retired.add_row(row["name"], row["id"] or "-", row["change"] or "-")
    console.print(retired)
