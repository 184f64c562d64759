"""`workup overdue` and `workup worklist`: what needs doing, overdue first."""

from __future__ import annotations

import typer

from tracking.cases.queries import list_overdue, worklist
from tracking.commands.common import ALLOW_FUTURE_HELP, actor, now_or
from tracking.commands.steps_view import show_steps
from tracking.db import session_scope


def overdue(
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    as_csv: bool = typer.Option(False, "--csv", help="CSV for spreadsheets"),
    step: str | None = typer.Option(None, "--step", help="Only this step kind, e.g. magnification_views"),
    older_than: int | None = typer.Option(
        None, "--older-than", min=0, max=36_500, help="Only steps overdue by more than DAYS"
    ),
    now: str | None = typer.Option(None, "--now", help="Judge overdue as of this ISO moment"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
) -> None:
    """List overdue steps of open cases, most overdue first."""
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    moment = now_or(now, allow_future=allow_future)
    with session_scope() as session:
        rows = list_overdue(session, moment, actor=actor(), step_kind=step, older_than_days=older_than)
    show_steps(rows, title="Overdue steps", output="json" if as_json else "csv" if as_csv else "table")


def show_worklist(
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    days: int = typer.Option(30, "--days", min=0, max=3650, help="Also show steps due within DAYS"),
    now: str | None = typer.Option(None, "--now", help="As of this ISO moment"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
) -> None:
    """The navigator worklist: overdue steps first, then steps due soon."""
    moment = now_or(now, allow_future=allow_future)
    with session_scope() as session:
        rows, _ = worklist(session, moment, actor=actor(), due_within_days=days)
    show_steps(rows, title=f"Navigator worklist ({moment:%Y-%m-%d %H:%M} UTC)", output="json" if as_json else "table")
