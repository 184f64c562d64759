"""`workup demo`: load the synthetic demo data set."""

from __future__ import annotations

import typer

from tracking.cases.errors import InvalidInput
from tracking.commands.common import console, now_or
from tracking.db import session_scope
from tracking.demo import load_demo, load_demo_users
from tracking.settings import get_settings


def refuse_a_real_database(force: bool) -> None:
    """The demo is for the embedded database; DATABASE_URL may name a clinic's, so it takes --force."""
    url = get_settings().database_url
    if url and not force:
        from sqlalchemy.engine import make_url

        try:
            where = f"{make_url(url).host or 'localhost'}/{make_url(url).database or ''}"
        except Exception:  # an unparsable URL: say nothing of it (it may hold a password)
            where = "a server"
        raise InvalidInput(
            f"DATABASE_URL names a database ({where}), not the embedded one; the demo adds synthetic "
            "patients and demo sign-ins with known passwords: add --force to load it there anyway"
        )


def demo(
    now: str | None = typer.Option(None, "--now", help="Load as if it were this ISO moment"),
    force: bool = typer.Option(False, "--force", help="Load into the DATABASE_URL database too (not just embedded)"),
    allow_future: bool = typer.Option(False, "--allow-future", help="Accept a --now more than a day ahead"),
) -> None:
    """Load synthetic demo cases in every pathway branch, some overdue. Loading twice changes nothing."""
    refuse_a_real_database(force)
    moment = now_or(now, allow_future=allow_future)
    with session_scope() as session:
        users = load_demo_users(session, moment)
        case_ids = load_demo(session, moment)
    console.print(f"Demo data ready: {len(case_ids)} cases (ids {min(case_ids)}-{max(case_ids)}).")
    console.print("Demo sign-ins (for trying the dashboard only):")
    for username, role, password in users:
        console.print(f"  {username:<8} {role.replace('_', ' '):<12} password: {password}")
