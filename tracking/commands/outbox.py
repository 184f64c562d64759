"""`workup outbox`: the notifications outbox, and sending dead-lettered ones again."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from sqlmodel import col, select

from tracking.commands.common import actor, console, listing_group, one_status, print_json, table, words
from tracking.db import session_scope
from tracking.notify.dead_letters import retry_dead_notifications
from tracking.notify.models import Notification
from tracking.pathway.vocabulary import NotificationStatus

app = listing_group("The notification outbox: list it, send dead-lettered notifications again.")


@app.callback()
def outbox(
    context: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only dead-lettered notifications"),
    pending: bool = typer.Option(False, "--pending", help="Only those still to send"),
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
) -> None:
    """Show the notification outbox (no patient data: case ids and steps only)."""
    if context.invoked_subcommand is not None:
        return
    one_status(failed, pending)
    query = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    if failed:
        query = query.where(Notification.status == NotificationStatus.dead)
    elif pending:
        query = query.where(Notification.status == NotificationStatus.pending)
    with session_scope() as session:
        rows = list(session.exec(query))
    if as_json:
        print_json([row.model_dump(exclude={"payload"}) | {"payload": row.payload} for row in rows])
        return
    grid = table(
        "Outbox", ["Id", "Kind", "Channel", "To", "Case", "Status", "Tries", "Failures", "Next try", "Last error"]
    )
    for row in rows:
        grid.add_row(
            str(row.id), words(row.kind), row.channel, row.recipient, str(row.case_id or ""), row.status,
            str(row.attempts), str(row.failures),
            f"{row.next_attempt_at:%Y-%m-%d %H:%M}" if row.status == "pending" else "", row.last_error or "",
        )  # fmt: skip
    console.print(grid if rows else "The outbox is empty.")


@app.command("retry")
def retry(
    notification_id: int | None = typer.Argument(None, min=1, max=2**31 - 1, help="The dead-lettered notification"),
    all_failed: bool = typer.Option(False, "--all-failed", help="Every dead-lettered notification"),
) -> None:
    """Send a dead-lettered notification (or all of them) again, once the cause is fixed."""
    with session_scope() as session:
        ids = retry_dead_notifications(
            session, actor=actor(), now=datetime.now(UTC), notification_id=notification_id, all_dead=all_failed
        )
    console.print(f"{len(ids)} notification(s) back in the queue" + (f": {', '.join(map(str, ids))}" if ids else "."))
