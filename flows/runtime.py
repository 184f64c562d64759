"""Where Prefect keeps its own state, and the clock flows run on."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from flows.prefect_child import PrefectChild
from tracking.clock import moment_or_now, parse_moment
from tracking.logs import install as install_log_scrubber


def flow_now(now: datetime | str | None) -> datetime:
    """The injected clock (at most a day past the wall clock: no alert is dated in the future), or now.

    Every flow calls this first, so it also puts the log scrubber on the handlers Prefect set up.
    """
    install_log_scrubber()
    if isinstance(now, str):
        now = parse_moment(now, option="now")
    return moment_or_now(now, option="now")


def use_local_prefect(home: str | Path) -> tuple[str, PrefectChild | None]:
    """Embedded mode: the Prefect API the flows of this process report to.

    PREFECT_API_URL set: that Prefect server, and nothing is started. Unset: one `prefect server
    start` child of this process (flows/prefect_child.py), stopped with it, and PREFECT_API_URL
    points at it, so Prefect never starts a temporary server of its own. Its run history is kept
    where Prefect keeps it by default, under PREFECT_HOME (default WORKUP_HOME/prefect), unless
    PREFECT_API_DATABASE_CONNECTION_URL names another database. Nothing is ever created on the
    PostgreSQL server of DATABASE_URL; case state is there, Prefect's is not.

    Call it from the main thread before any flow runs. Returns (a sentence saying where flow runs
    are recorded, the child to stop or None).
    """
    if os.environ.get("PREFECT_API_URL"):
        return f"the Prefect server at {os.environ['PREFECT_API_URL']}", None
    prefect_home = Path(os.environ.setdefault("PREFECT_HOME", os.path.join(home, "prefect"))).resolve()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the console is for people; runs are in Prefect
    child = PrefectChild.start(prefect_home)
    os.environ["PREFECT_API_URL"] = child.api_url
    if "prefect.context" in sys.modules:  # Prefect already read its settings in this process: read them again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    if os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        store = "Prefect's database as configured (PREFECT_API_DATABASE_CONNECTION_URL)"
    else:
        store = f"Prefect's local store in {prefect_home}"
    return f"{store}, served by this process's Prefect server ({child.api_url})", child
