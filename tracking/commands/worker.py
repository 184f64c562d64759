"""`workup worker`: case runs and delivery in one long-lived process, woken by the database."""

from __future__ import annotations

from pathlib import Path

import typer

from tracking.commands.common import console
from tracking.commands.signals import run_until_signalled
from tracking.db import database_url
from tracking.logs import install as install_log_scrubber
from tracking.settings import get_settings


def worker(
    alive_file: Path | None = typer.Option(
        None, "--alive-file", help="Touch this file each time the worker looks for work (for a container healthcheck)"
    ),
) -> None:
    """Run case runs and deliver notifications as soon as they are written (LISTEN workup_work), in this
    process; look every WORKUP_CASE_RUNS_EVERY_SECONDS / WORKUP_DELIVERY_EVERY_SECONDS for retries.
    SIGTERM or Ctrl-C: the pass in progress finishes, then it exits."""
    from flows.runtime import use_local_prefect
    from tracking.worker.lanes import check_connections, default_lanes
    from tracking.worker.loop import Worker

    install_log_scrubber()
    settings = get_settings()
    check_connections(settings)  # before anything starts: a refusal is one line and exit 2
    url = database_url()
    running: dict[str, object] = {}

    def start() -> None:
        where, running["prefect"] = use_local_prefect(settings.workup_home.resolve())  # from the main thread
        install_log_scrubber()  # again: Prefect has configured its logging by now (tracking/logs.py)
        running["worker"] = Worker(url, default_lanes(settings), alive_file=alive_file)
        running["worker"].start()
        console.print(f"Worker listening for case runs and notifications; flow runs recorded in {where}.")

    def stop() -> None:
        try:
            if running.get("worker") is not None:
                running["worker"].stop()
        finally:
            if running.get("prefect") is not None:
                running["prefect"].stop()

    run_until_signalled(start, stop)
