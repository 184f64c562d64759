"""`workup demo`: load the synthetic demo data set."""

from __future__ import annotations

import typer

from tracking.commands.common import console, now_or
from tracking.db import session_scope
from tracking.demo import load_demo


def demo(now: str | None = typer.Option(None, "--now", help="Load as if it were this ISO moment")) -> None:
    """Load synthetic demo cases in every pathway branch, some overdue. Loading twice changes nothing."""
    with session_scope() as session:
        case_ids = load_demo(session, now_or(now))
    console.print(f"Demo data ready: {len(case_ids)} cases (ids {min(case_ids)}-{max(case_ids)}).")
