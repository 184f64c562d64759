"""The `workup` command. Errors are one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import logging
import sys

import click
import typer

from tracking.cases.errors import classify, describe
from tracking.commands import cases, db, events, letter_sending, letters, outbox, pathway, report, runs, users
from tracking.commands import hl7 as hl7_commands
from tracking.commands.demo import demo
from tracking.commands.deploy import deploy
from tracking.commands.operations import alert_app, alerts, reminders, scheduler, serve, sweep
from tracking.commands.overdue import overdue, show_worklist
from tracking.commands.screening import screening
from tracking.commands.worker import worker
from tracking.logs import install as install_log_scrubber
from tracking.pathway.definition import PathwayInvalid
from tracking.pathway.source import PathwayFileError

log = logging.getLogger(__name__)

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
app.add_typer(letters.app, name="letter")
letters.app.command("send")(letter_sending.send)
app.command("letters")(letters.letters)
app.add_typer(report.app, name="report")
app.command("overdue")(overdue)
app.command("worklist")(show_worklist)
app.command("screening")(screening)
app.command("demo")(demo)
app.command("deploy")(deploy)
app.command("sweep")(sweep)
app.command("reminders")(reminders)
app.command("alerts")(alerts)
app.add_typer(alert_app, name="alert")
app.add_typer(outbox.app, name="outbox")
app.add_typer(hl7_commands.app, name="hl7")
app.command("scheduler")(scheduler)
app.command("worker")(worker)
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
    except KeyboardInterrupt:
        return 130
    except PathwayInvalid as error:
        typer.echo(f"error: invalid pathway: {error.problems[0]}", err=True)
        return 2
    except PathwayFileError as error:
        typer.echo(f"error: {error}", err=True)
        return 2
    except Exception as error:  # the one error table (tracking/cases/errors.py), as for the web and the API
        kind = classify(error)
        if kind is None:
            log.debug("unexpected error", exc_info=True)
            typer.echo(f"error: {describe(error)}", err=True)
            return 1
        typer.echo(f"error: {describe(error)}", err=True)
        return kind.exit_code


def run() -> None:
    sys.exit(main())
