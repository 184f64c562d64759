"""The `workup` command. Errors are one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import logging
import sys

import click
import typer
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError

from tracking.cases.errors import WorkupError
from tracking.commands import cases, db, events, outbox, pathway, runs, users
from tracking.commands.demo import demo
from tracking.commands.deploy import deploy
from tracking.commands.operations import alert_app, alerts, scheduler, serve, sweep
from tracking.commands.overdue import overdue, show_worklist
from tracking.db import DatabaseUnavailable
from tracking.logs import install as install_log_scrubber
from tracking.pathway.definition import PathwayInvalid
from tracking.pathway.source import PathwayFileError

app = typer.Typer(
    name="workup",
    help="breast-workup: track every diagnostic breast workup until it is done.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(cases.app, name="case")
app.add_typer(events.app, name="event")
app.add_typer(pathway.app, name="pathway")
app.add_typer(users.app, name="user")
app.add_typer(runs.app, name="runs")
app.command("overdue")(overdue)
app.command("worklist")(show_worklist)
app.command("demo")(demo)
app.command("deploy")(deploy)
app.command("sweep")(sweep)
app.command("alerts")(alerts)
app.add_typer(alert_app, name="alert")
app.add_typer(outbox.app, name="outbox")
app.command("scheduler")(scheduler)
app.command("serve")(serve)


# Typer ships its own copy of Click; usage errors may come from either.
EXITS: tuple[type[BaseException], ...] = (click.exceptions.Exit, typer.Exit)
USAGE_ERRORS: tuple[type[BaseException], ...] = (click.ClickException,)
ABORTS: tuple[type[BaseException], ...] = (click.exceptions.Abort, typer.Abort)
try:
    from typer._click import exceptions as _typer_click

    USAGE_ERRORS += (_typer_click.ClickException,)
    EXITS += (_typer_click.Exit,) if hasattr(_typer_click, "Exit") else ()
    ABORTS += (_typer_click.Abort,) if hasattr(_typer_click, "Abort") else ()
except ImportError:  # older Typer uses Click itself
    pass


def describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        place = ".".join(str(part) for part in item["loc"]) or "input"
        parts.append(f"{place}: {item['msg']}")
    return "invalid input: " + "; ".join(parts)


def describe_integrity(error: IntegrityError) -> str:
    diag = getattr(error.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    return f"refused by the database ({constraint or 'constraint'}); nothing was saved"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_scrubber()  # no patient data in logs (tracking/logs.py)
    try:
        result = app(args=argv, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except EXITS as done:
        return done.exit_code
    except USAGE_ERRORS as usage:
        context = getattr(usage, "ctx", None)
        words = context.command_path.split()[1:] if context else []
        typer.echo(f"error: {usage.format_message()} (try: workup {' '.join([*words, '--help'])})", err=True)
        return usage.exit_code
    except ABORTS:
        typer.echo("aborted", err=True)
        return 1
    except WorkupError as error:
        typer.echo(f"error: {error}", err=True)
        return error.exit_code
    except ValidationError as error:
        typer.echo(f"error: {describe_validation(error)}", err=True)
        return 2
    except PathwayInvalid as error:
        typer.echo(f"error: invalid pathway: {error.problems[0]}", err=True)
        return 2
    except PathwayFileError as error:
        typer.echo(f"error: {error}", err=True)
        return 2
    except IntegrityError as error:
        typer.echo(f"error: {describe_integrity(error)}", err=True)
        return 6
    except (OperationalError, DatabaseUnavailable) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        typer.echo(f"error: database unavailable: {reason}", err=True)
        return 7
    except KeyboardInterrupt:
        return 130


def run() -> None:
    sys.exit(main())
