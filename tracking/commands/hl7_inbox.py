"""`workup hl7 inbox`: HL7 messages waiting for a person; confirm or dismiss each.

Confirming records the prefilled proposal (edited with --data) as the person named by --as (or
WORKUP_ACTOR), under the pathway's roles and guards, exactly as from the review page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from tracking.cases.errors import InvalidInput, NotFound
from tracking.commands.common import console, listing_group, print_json, table, words
from tracking.db import session_scope
from tracking.hl7.inbox import Person, confirm_item, dismiss_item, item_as_dict, list_items
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.pathway.fields import FieldRefused, parse_moment
from tracking.pathway.vocabulary import HL7InboxStatus
from tracking.settings import get_settings
from tracking.users.service import find_user

app = listing_group("The HL7 inbox: messages the interface would not apply by itself; confirm or dismiss each.")
AS_HELP = "The person confirming: a workup user (navigator or radiologist); default WORKUP_ACTOR"


@app.callback()
def inbox(
    context: typer.Context,
    every: bool = typer.Option(False, "--all", help="Every item, confirmed and dismissed too (newest first)"),
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
) -> None:
    """List the open items, oldest first: what each proposes and why it was not applied."""
    if context.invoked_subcommand is not None:
        return
    with session_scope() as session:
        rows = [
            item_as_dict(item)
            for item in list_items(session, status=None if every else HL7InboxStatus.open, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    grid = table(
        "HL7 inbox" + ("" if every else " (open)"),
        ["Item", "Message", "Case", "Proposal", "Event", "Status", "Received", "Reason"],
    )
    for row in rows:
        grid.add_row(
            str(row["item_id"]),
            str(row["message_id"]),
            str(row["case_id"] or ""),
            words(row["kind"]),
            words(row["event_kind"]),
            row["status"],
            row["created_at"][:16],
            row["reason"],
        )
    console.print(grid if rows else "Nothing waiting in the HL7 inbox.")


@app.command("confirm")
def confirm(
    item_id: int = typer.Argument(..., min=1, max=2**31 - 1, help="The inbox item"),
    data: str | None = typer.Option(None, "--data", help="Fields to change in the proposal, as a JSON object"),
    case_id: int | None = typer.Option(None, "--case", min=1, max=2**31 - 1, help="The case (when none matched)"),
    occurred_at: str | None = typer.Option(None, "--occurred-at", help="When it happened (ISO 8601)"),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Do what the item proposes (record the event, open the case, ...); a refusal saves nothing."""
    changes = _changes(data)
    try:
        moment = parse_moment(occurred_at, "--occurred-at") if occurred_at else None
    except FieldRefused as refused:
        raise InvalidInput(str(refused.refusal)) from None
    with session_scope() as session:
        item = session.get(HL7InboxItem, item_id)
        if item is None:
            raise NotFound(f"HL7 inbox item {item_id} does not exist")
        payload = _merged(item.payload, changes) if changes is not None else None
        decided = confirm_item(
            session,
            item_id,
            person=_person(session, as_user),
            now=datetime.now(UTC),
            payload=payload,
            case_id=case_id,
            occurred_at=moment,
        )
    if as_json:
        print_json(decided.__dict__)
        return
    made = f"; event {decided.event_id} on case {decided.case_id}" if decided.event_id else ""
    console.print(f"Inbox item {item_id} confirmed{made}.")
    for warning in decided.warnings:
        console.print(f"  [yellow]warning:[/] {warning}")


@app.command("dismiss")
def dismiss(
    item_id: int = typer.Argument(..., min=1, max=2**31 - 1, help="The inbox item"),
    reason: str = typer.Option(..., "--reason", help="Why nothing is done with it (kept with the item)"),
    as_user: str | None = typer.Option(None, "--as", help=AS_HELP),
) -> None:
    """Close the item without doing what it proposes."""
    with session_scope() as session:
        dismiss_item(session, item_id, person=_person(session, as_user), reason=reason, now=datetime.now(UTC))
    console.print(f"Inbox item {item_id} dismissed.")


def _person(session: Any, name: str | None) -> Person:
    username = name or (get_settings().actor if get_settings().actor != "cli" else None)
    if not username:
        raise InvalidInput(
            "name the person confirming with --as USER (a navigator or radiologist), or set WORKUP_ACTOR"
        )
    try:
        user = find_user(session, username)
    except NotFound:
        raise InvalidInput(f"{username!r} is not a workup user; --as names a navigator or radiologist") from None
    if user.disabled_at is not None:
        raise InvalidInput(f"{user.username!r} is disabled")
    return Person(user.username, user.role)


def _changes(data: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        changes = json.loads(data)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"--data is not valid JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise InvalidInput("--data nests too deeply") from None
    if not isinstance(changes, dict):
        raise InvalidInput("--data must be a JSON object of the fields to change")
    return changes


def _merged(prefilled: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The prefilled proposal with the given fields changed; a field given as null is removed."""
    merged = {**prefilled, **changes}
    return {name: value for name, value in merged.items() if value is not None}
