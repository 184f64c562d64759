"""`workup hl7`: the MLLP listener, importing HL7 files, and the message log (never a message's content)."""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path

import typer
from rich.markup import escape

from tracking.cases.errors import InvalidInput, NotFound
from tracking.centre_time import local, typed_moment
from tracking.commands import hl7_inbox
from tracking.commands.common import actor, console, now_or, print_json, table
from tracking.db import DatabaseUnavailable, get_engine, session_scope
from tracking.hl7.ack import AckCode
from tracking.hl7.intake import Receipt, receive_message
from tracking.hl7.interpretation import MessageOutcome
from tracking.hl7.log import LogFilters, is_message_type, is_sender, list_messages
from tracking.logs import install as install_log_scrubber

app = typer.Typer(
    help="HL7 v2 from the RIS: the MLLP listener, file imports, the message log, the inbox.", no_args_is_help=True
)
app.add_typer(hl7_inbox.app, name="inbox")
DEFAULT_PORT = 2575  # IANA's port for HL7 over MLLP


@app.command("listen")
def listen(
    host: str | None = typer.Option(None, "--host", help="Address to listen on [default: WORKUP_HL7_HOST, 127.0.0.1]"),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help=f"[default: WORKUP_HL7_PORT, else {DEFAULT_PORT}; 0 picks a free one]"
    ),
    processes: int | None = typer.Option(
        None, "--processes", min=0, max=64, help="Intake processes [default: WORKUP_HL7_PROCESSES, 2]; 0: threads"
    ),
) -> None:
    """Receive HL7 messages over MLLP until stopped (SIGTERM or Ctrl-C): store, interpret, acknowledge."""
    from tracking.hl7.mllp import listener_from_settings, serve_until_signalled
    from tracking.settings import get_settings

    install_log_scrubber()
    chosen = port if port is not None else (get_settings().hl7_port or DEFAULT_PORT)
    listener = listener_from_settings(get_engine(), host=host, port=chosen, processes=processes)

    def started(bound_host: str, bound_port: int) -> None:
        console.print(f"Listening for HL7 over MLLP on {bound_host}:{bound_port} (Ctrl-C to stop).")

    serve_until_signalled(listener, started)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not an HL7 file") from None
    except OSError as error:
        raise InvalidInput(f"{path}: cannot be read ({error.strerror})") from None


@app.command("import")
def import_files(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="HL7 files: one or many messages, framed or not"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Receive every message in FILE... as the listener would; exit 2 if any was rejected (AR), 7 if any
    could not be stored (AE: import the file again; messages already stored are found as duplicates)."""
    from tracking.hl7.files import split_messages

    logging.getLogger("tracking.hl7").setLevel(logging.ERROR)  # each message's outcome is printed below
    # Every file is read and split before the first message is received: a bad file changes nothing.
    batches = [(path, split_messages(_read(path), name=str(path))) for path in files]
    engine = get_engine()
    receipts: list[tuple[str, int, Receipt]] = []
    for path, messages in batches:
        for number, raw in enumerate(messages, start=1):
            receipt = receive_message(engine, raw, now=now_or(None))
            receipts.append((str(path), number, receipt))
            if not as_json:
                console.print(_receipt_line(str(path), number, receipt), highlight=False, markup=False)
    if as_json:
        print_json([_receipt_dict(path, number, receipt) for path, number, receipt in receipts])
    total = len(receipts)
    not_stored = sum(receipt.ack_code == AckCode.error for _, _, receipt in receipts)
    rejected = sum(receipt.ack_code == AckCode.rejected for _, _, receipt in receipts)
    if not as_json:
        console.print(f"{total} message{'s' if total != 1 else ''}: {total - rejected - not_stored} accepted, "
                      f"{rejected} rejected, {not_stored} not stored.")  # fmt: skip
    if not_stored:
        raise DatabaseUnavailable(f"{not_stored} of {total} messages could not be stored (AE); import again")
    if rejected:
        raise InvalidInput(f"{rejected} of {total} messages were rejected (AR)")


def _receipt_line(path: str, number: int, receipt: Receipt) -> str:
    where = f"{path} #{number}"
    what = " ".join(part for part in (receipt.control_id or "(no control id)", receipt.message_type) if part)
    outcome = receipt.outcome.value if receipt.outcome else "not stored"
    case = f", case {receipt.case_id}" if receipt.case_id else ""
    logged = f" [message {receipt.message_id}]" if receipt.message_id else ""
    duplicate = " (duplicate)" if receipt.duplicate else ""
    return f"{where}: {what}: {receipt.ack_code.value} {outcome}{duplicate}{case}{logged}: {receipt.detail}"


def _receipt_dict(path: str, number: int, receipt: Receipt) -> dict:
    return {"file": path, "number": number, "message_id": receipt.message_id, "control_id": receipt.control_id,
            "type": receipt.message_type, "ack": receipt.ack_code.value,
            "outcome": receipt.outcome.value if receipt.outcome else None, "duplicate": receipt.duplicate,
            "case_id": receipt.case_id, "detail": receipt.detail}  # fmt: skip


def outcome_choice(value: str | None) -> MessageOutcome | None:
    if value is None or not value.strip():
        return None
    try:
        return MessageOutcome(value.strip().lower())
    except ValueError:
        choices = ", ".join(outcome.value for outcome in MessageOutcome)
        raise InvalidInput(f"--outcome {value!r} is not one of {choices}") from None


@app.command("messages")
def messages(
    as_json: bool = typer.Option(False, "--json"),
    outcome: str | None = typer.Option(None, "--outcome", help="applied, queued, ignored or rejected"),
    since: str | None = typer.Option(None, "--since", help="Received on or after DATE (centre's clock) or a moment"),
    message_type: str | None = typer.Option(None, "--type", help="ORU, or ORU^R01 with the trigger event"),
    sender: str | None = typer.Option(None, "--sender", help="Sender (MSH-3^MSH-4) or its beginning"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
) -> None:
    """The message log, newest first: ids, sender, control id, type, when, outcome, detail, case (never content)."""
    message_type, sender = (message_type or "").strip(), (sender or "").strip()
    if message_type and not is_message_type(message_type):
        raise InvalidInput(f"--type {message_type[:40]!r} is not a message type such as ORU or ORU^R01")
    if not is_sender(sender):
        raise InvalidInput("--sender takes a sender such as RIS^NORTHSIDE (no control characters, 201 at most)")
    filters = LogFilters(
        outcome=outcome_choice(outcome),
        message_type=message_type or None,
        sender=sender or None,
        since=typed_moment(since, what="--since", default_time=time(0, 0)) if since else None,
    )
    with session_scope() as session:
        rows, _ = list_messages(session, now_or(None), actor=actor(), filters=filters, limit=limit)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    grid = table("HL7 messages", ["Id", "Received", "Sender", "Control id", "Type", "Outcome", "ACK", "Case", "Detail"])
    for row in rows:
        grid.add_row(
            str(row.id), f"{local(row.received_at):%Y-%m-%d %H:%M:%S}", escape(row.sender or ""),
            escape(row.control_id or ""), escape(row.type_label), row.outcome, row.ack_code, str(row.case_id or ""),
            escape(row.detail),
        )  # fmt: skip
    console.print(grid if rows else "No HL7 messages.")
