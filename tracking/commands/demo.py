"""`workup demo`: load the synthetic demo data set."""

from __future__ import annotations

import typer

from tracking.commands.common import console, now_or
from tracking.db import session_scope
from tracking.demo import load_demo, load_demo_users


def demo(now: str | None = typer.Option(None, "--now", help="Load as if it were this ISO moment")) -> None:
    """Load synthetic demo cases in every pathway branch, some overdue. Loading twice changes nothing."""
    moment = now_or(now)
    with session_scope() as session:
        users = load_demo_users(session, moment)
        case_ids = load_demo(session, moment)
    console.print(f"Demo data ready: {len(case_ids)} cases (ids {min(case_ids)}-{max(case_ids)}).")
    console.print("Demo sign-ins (for trying the dashboard only):")
    for username, role, password in users:
        console.print(f"  {username:<8} {role.replace('_', ' '):<12} password: {password}")
