"""`workup event record`: record what happened on a case."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from tracking.cases.errors import InvalidInput
from tracking.cases.recording import record_event
from tracking.cases.windows import window
from tracking.commands.cases import read_json_file
from tracking.commands.common import actor, console, now_or, print_json, words
from tracking.db import session_scope

app = typer.Typer(help="Events: record results and decisions on a case.", no_args_is_help=True)


def created_when(created: dict) -> str:
    """When a step the event created is due: its window for a follow-up, else its due day."""
    due_at = datetime.fromisoformat(created["due_at"])
    target_at = datetime.fromisoformat(created["target_at"]) if created.get("target_at") else None
    found = window(target_at, due_at)
    return found.phrase if found else f"due {due_at:%Y-%m-%d}"


@app.command()
def record(
    case_id: int = typer.Argument(..., min=1, max=2**31 - 1, help="Case id"),
    kind: str = typer.Argument(..., help="Event kind, e.g. magnification_result"),
    data: str | None = typer.Option(None, "--data", help="Event fields as a JSON object"),
    file: Path | None = typer.Option(None, "--file", help="JSON file with the event fields"),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key"),
    occurred_at: str | None = typer.Option(None, "--occurred-at", help="When it happened (ISO 8601); default now"),
    expected_version: int | None = typer.Option(
        None, "--expected-version", min=1, max=2**31 - 1, help="Refuse if the case changed"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record one event. A guard refusal saves nothing and says why."""
    if (data is None) == (file is None):
        raise InvalidInput("give the event fields with exactly one of --data JSON or --file F")
    if data is not None:
        try:
            fields = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--data is not valid JSON: {exc.msg} at column {exc.colno}") from None
        except RecursionError:
            raise InvalidInput("--data nests too deeply") from None
    else:
        fields = read_json_file(file)
    if not isinstance(fields, dict):
        raise InvalidInput("the event fields must be a JSON object")
    with session_scope() as session:
        result = record_event(
            session,
            case_id,
            kind,
            fields,
            actor=actor(),
            now=now_or(None),
            occurred_at=occurred_at,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )
    if as_json:
        print_json({**result.__dict__})
        return
    state = "already recorded (same idempotency key)" if result.replayed else "recorded"
    console.print(
        f"Event {result.event_id} ({words(kind)}) {state} on case {case_id}; case version {result.case_version}."
    )
    for created in result.outcome.get("created", []):
        console.print(f"  new step: {words(created['kind'])}, {created_when(created)}")
    if result.outcome.get("status") == "closed":
        console.print("  the case is now closed")
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {warning}")
