"""Helpers every command shares: the clock, the actor, output in tables, JSON or CSV."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from tracking.cases.errors import InvalidInput
from tracking.clock import moment_or_now
from tracking.csv_safe import write_csv
from tracking.settings import get_settings

console = Console(width=None if sys.stdout.isatty() else 160)


def now_or(value: str | None, *, allow_future: bool = False, option: str = "--now") -> datetime:
    """`--now` parsed as an aware moment, or the current time.

    A moment more than a day past the wall clock is refused (exit 2) unless `allow_future`
    (the command's --allow-future); the rule lives in tracking/clock.py.
    """
    return moment_or_now(value, option=option, allow_future=allow_future)


ALLOW_FUTURE_HELP = "Accept a --now more than a day past the wall clock (simulations)"


def actor(value: str | None = None) -> str:
    if value:
        return value
    settings = get_settings()
    if settings.actor != "cli":
        return settings.actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    write_csv(sys.stdout, columns, rows)  # formula-leading text is quoted (tracking/csv_safe.py)


def table(title: str, columns: list[str]) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    return result


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def listing_group(help_text: str):
    """A command group that lists when called alone (`workup runs`) and has subcommands (`workup runs retry`)."""
    import typer

    return typer.Typer(help=help_text, invoke_without_command=True, no_args_is_help=False)


def one_status(failed: bool, pending: bool) -> None:
    """--failed and --pending exclude each other."""
    if failed and pending:
        raise InvalidInput("give --failed or --pending, not both")
