"""`workup letter send LETTER`: queue a produced letter for delivery by fax (the gateway) or email."""

from __future__ import annotations

import typer

from tracking.commands.common import actor, console, now_or, print_json
from tracking.db import session_scope
from tracking.letters.sending import send_letter

MAX_ID = 2**31 - 1


def send(
    letter_id: int = typer.Argument(..., min=1, max=MAX_ID),
    to: str | None = typer.Option(
        None,
        "--to",
        help="The fax number or email address (by the letter's channel); default: the facility's recorded contact",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Send a letter to a provider or facility by its channel (fax or email), through the outbox with retries.

    It is marked sent once the mail server accepts it (`workup outbox` shows it until then)."""
    now = now_or(None)
    with session_scope() as session:
        queued = send_letter(session, letter_id, actor=actor(), now=now, to=to)
    if as_json:
        print_json(queued.as_json())
        return
    console.print(
        f"Letter {queued.letter_id} queued for delivery by {queued.channel} to {queued.address} "
        f"(notification {queued.notification_id}); it is marked sent once the mail server accepts it."
    )
