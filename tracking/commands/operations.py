"""Operations commands: sweep, reminders, alerts, alert ack, outbox, scheduler, serve (and its HL7 listener)."""

from __future__ import annotations

from datetime import timedelta

import typer

from tracking.alerts.service import acknowledge_alert, list_alerts
from tracking.alerts.sweep import sweep_overdue
from tracking.commands.common import ALLOW_FUTURE_HELP, actor, console, now_or, print_json, table, words
from tracking.commands.signals import run_until_signalled
from tracking.db import database_url, session_scope
from tracking.logs import install as install_log_scrubber
from tracking.pathway.fields import bounded_text
from tracking.reminders.run import run_reminders
from tracking.settings import get_settings

alert_app = typer.Typer(help="Overdue alerts: acknowledge or snooze one.", no_args_is_help=True)


def sweep(
    now: str | None = typer.Option(None, "--now", help="Sweep as of this ISO moment"),
    as_json: bool = typer.Option(False, "--json"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
    full: bool = typer.Option(False, "--full", help="Read every open step and alert, not only what changed"),
) -> None:
    """Run the overdue sweep once: raise, escalate and resolve alerts."""
    moment = now_or(now, allow_future=allow_future)  # before the transaction: a refused sweep writes nothing
    with session_scope() as session:
        report = sweep_overdue(session, moment, full=full).as_dict()
    if as_json:
        print_json(report)
    else:
        console.print(", ".join(f"{count} {words(name)}" for name, count in report.items()))


def reminders(
    now: str | None = typer.Option(None, "--now", help="Run as of this ISO moment (replay, back-fill)"),
    as_json: bool = typer.Option(False, "--json"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
) -> None:
    """Run every reminder job once: prior-film chases and escalations, visit reminders, missed appointments."""
    moment = now_or(now, allow_future=allow_future)  # before the transaction: a refused run writes nothing
    with session_scope() as session:
        report = run_reminders(session, moment)
    if as_json:
        print_json({"now": moment.isoformat(), **report.as_dict()})
        return
    console.print(f"Reminders as of {moment:%Y-%m-%d %H:%M} UTC" + ("" if report.acted else ": nothing was due."))
    for what, count, case_ids in report.lines():
        if count:
            console.print(f"  {what}: {count}" + (f" (cases {', '.join(map(str, case_ids))})" if case_ids else ""))


def alerts(
    open_only: bool = typer.Option(False, "--open", help="Only unresolved alerts"),
    case_id: int | None = typer.Option(None, "--case", min=1, max=2**31 - 1, help="Only this case"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List alerts, highest level first."""
    with session_scope() as session:
        rows = list_alerts(session, unresolved_only=open_only, case_id=case_id)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    grid = table("Alerts", ["Alert", "Case", "What", "Due", "Level", "Status", "Raised", "Acknowledged"])
    for row in rows:
        alert = row.alert
        ack = f"{alert.acknowledged_by}: {alert.acknowledge_reason}" if alert.acknowledged_by else ""
        if alert.snoozed_until:
            ack += f" (snoozed to {alert.snoozed_until:%Y-%m-%d})"
        level = f"[bold red]level {alert.level}[/]" if alert.status == "open" else f"level {alert.level}"
        grid.add_row(
            str(alert.id), str(alert.case_id), row.headline, f"{row.due_at:%Y-%m-%d}" if row.due_at else "", level,
            words(alert.status), f"{alert.raised_at:%Y-%m-%d %H:%M}", ack,
        )  # fmt: skip
    console.print(grid if rows else "No alerts.")


@alert_app.command("ack")
def ack(
    alert_id: int = typer.Argument(..., min=1, max=2**31 - 1),
    reason: str = typer.Option(..., "--reason", help="Why (recorded with your name)"),
    snooze_days: int | None = typer.Option(None, "--snooze-days", min=1, max=90, help="Hold escalation for DAYS"),
    now: str | None = typer.Option(None, "--now", hidden=True),
    allow_future: bool = typer.Option(False, "--allow-future", hidden=True),
) -> None:
    """Acknowledge an alert, optionally snoozing its escalation."""
    moment = now_or(now, allow_future=allow_future)
    snooze_until = moment + timedelta(days=snooze_days) if snooze_days else None
    with session_scope() as session:
        alert = acknowledge_alert(
            session,
            alert_id,
            actor=actor(),
            reason=bounded_text(reason, what="--reason", max_length=500),
            now=moment,
            snooze_until=snooze_until,
        )
    console.print(
        f"Alert {alert.id} on case {alert.case_id} acknowledged"
        + (f", snoozed to {snooze_until:%Y-%m-%d}" if snooze_until else "")
    )


def _embedded_scheduler():
    """(start, stop) for the embedded scheduler and, unless PREFECT_API_URL is set, its Prefect server child.

    start() starts the Prefect child first (from the main thread: its PDEATHSIG is bound to the
    starting thread), then the scheduler; stop() stops the scheduler, then the Prefect child.
    """
    from flows.runtime import use_local_prefect
    from tracking.scheduler import EmbeddedScheduler, default_jobs

    settings = get_settings()
    url = database_url()
    running: dict[str, object] = {}

    def start() -> None:
        where, running["prefect"] = use_local_prefect(settings.workup_home.resolve())
        console.print(f"Embedded scheduler: one leader per database; flow runs recorded in {where}.")
        running["scheduler"] = EmbeddedScheduler(url, settings, default_jobs(settings))
        install_log_scrubber()  # again: Prefect has configured its logging by now (tracking/logs.py)
        running["scheduler"].start()

    def stop() -> None:
        try:
            if running.get("scheduler") is not None:
                running["scheduler"].stop()
        finally:
            if running.get("prefect") is not None:
                running["prefect"].stop()

    return start, stop


def scheduler() -> None:
    """Run the embedded scheduler alone (one leader per database; others wait in standby)."""
    install_log_scrubber()
    start, stop = _embedded_scheduler()

    def started() -> None:
        start()
        console.print("Embedded scheduler started (Ctrl-C to stop).")

    run_until_signalled(started, stop)


def _with_hl7_listener(start, stop):
    """(start, stop) that also run the HL7 MLLP listener when WORKUP_HL7_PORT is set: it starts after
    `start` and stops (gracefully: messages being stored get their ACK) before `stop`."""
    if get_settings().hl7_port is None:
        return start, stop
    from tracking.db import get_engine
    from tracking.hl7.mllp import ListenerThread, listener_from_settings

    running: dict[str, ListenerThread] = {}

    def starting() -> None:
        start()
        running["hl7"] = ListenerThread(listener_from_settings(get_engine()))
        host, port = running["hl7"].start()
        console.print(f"Listening for HL7 over MLLP on {host}:{port}.")

    def stopping() -> None:
        try:
            if "hl7" in running:
                running["hl7"].stop()
        finally:
            stop()

    return starting, stopping


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Web worker processes (one core each)"),
) -> None:
    """Serve the web app, with the embedded scheduler unless WORKUP_SCHEDULER_ENABLED=false, and the HL7
    MLLP listener when WORKUP_HL7_PORT is set."""
    import uvicorn

    install_log_scrubber()  # and create_app() again in each worker, after uvicorn configured its logging

    start, stop = _embedded_scheduler() if get_settings().scheduler_enabled else (lambda: None, lambda: None)
    start, stop = _with_hl7_listener(start, stop)

    def run() -> None:
        console.print(f"Serving the dashboard on http://{host}:{port}/ (sign in at http://{host}:{port}/login).")
        # proxy_headers off: the app itself believes X-Forwarded-For only from WORKUP_TRUSTED_PROXIES.
        uvicorn.run("tracking.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", proxy_headers=False)  # fmt: skip

    run_until_signalled(start, stop, run)
