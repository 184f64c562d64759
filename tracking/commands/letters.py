"""`workup letter render|reprint|sent` and `workup letters [--due]`: letters as PDF files, and their record."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from tracking.cases.errors import InvalidInput
from tracking.centre_time import shown_date, shown_moment
from tracking.commands.common import ALLOW_FUTURE_HELP, actor, console, now_or, print_json, table, words
from tracking.db import session_scope
from tracking.letters.deadlines import LetterDue, days_left_words, letters_due
from tracking.letters.kinds import LetterKind, kind_words
from tracking.letters.marking import mark_sent
from tracking.letters.queries import letter_json, recorded_letters
from tracking.letters.service import produce_letter, reprint_letter

app = typer.Typer(
    help="Letters: render one to PDF and record it, print one again, mark one sent.", no_args_is_help=True
)
KINDS = ", ".join(kind.value for kind in LetterKind)
MAX_ID = 2**31 - 1


def checked_out(path: Path) -> Path:
    """--out: a file we can write (its folder exists and is writable; not a folder itself)."""
    if path.is_dir():
        raise InvalidInput(f"--out {path} is a folder; give a file name such as letter.pdf")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidInput(f"--out {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InvalidInput(f"--out {path}: the folder {folder} is not writable")
    return path


def write_pdf(path: Path, pdf: bytes) -> None:
    """Write the whole file or nothing (a temporary file renamed into place)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        temporary.write_bytes(pdf)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {error.strerror}") from None


@app.command()
def render(
    case_id: int = typer.Argument(..., min=1, max=MAX_ID),
    kind: str = typer.Option(..., "--kind", help=f"One of: {KINDS}"),
    out: Path = typer.Option(..., "--out", help="The PDF file to write"),
    language: str | None = typer.Option(None, "--language", help="en or es; default: the patient's language"),
    facility: int | None = typer.Option(
        None, "--facility", help="Facility id, for a prior-film request", min=1, max=MAX_ID
    ),
    channel: str | None = typer.Option(None, "--channel", help="print_post, fax, email or portal"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Render a letter for a case to a PDF file and record it (who, when, inputs, SHA-256)."""
    path = checked_out(out)
    now = now_or(None)
    written = False
    try:
        with session_scope() as session:
            letter, pdf = produce_letter(session, case_id, kind, language=language, actor=actor(), now=now,
                                         facility_id=facility, channel=channel)  # fmt: skip
            write_pdf(path, pdf)
            written = True
            summary = letter_json(letter)
            fallback = letter.inputs.get("language_fallback_from")
    except BaseException:
        if written:  # the record was not saved: no file without its record
            path.unlink(missing_ok=True)
        raise
    if as_json:
        print_json({**summary, "file": str(path), "language_fallback_from": fallback})
        return
    if fallback:
        console.print(f"note: no letter templates in the patient's language '{fallback}'; written in English.")
    console.print(
        f"Letter {summary['letter_id']} ({words(kind)}, {summary['language']}) for case {case_id} written to {path}; "
        f"SHA-256 {summary['pdf_sha256']}."
    )


@app.command()
def reprint(
    letter_id: int = typer.Argument(..., min=1, max=MAX_ID),
    out: Path = typer.Option(..., "--out", help="The PDF file to write"),
) -> None:
    """Render a recorded letter again from its stored inputs and check it against the recorded SHA-256."""
    path = checked_out(out)
    now = now_or(None)
    with session_scope() as session:
        copy = reprint_letter(session, letter_id, actor=actor(), now=now)
        write_pdf(path, copy.pdf)
    if copy.same_as_recorded:
        console.print(f"Letter {letter_id} written to {path}: the same bytes as the letter recorded.")
    else:
        console.print(
            f"warning: letter {letter_id} written to {path} differs from the letter recorded "
            "(the templates or the centre's settings changed since it was produced)."
        )


@app.command()
def sent(letter_id: int = typer.Argument(..., min=1, max=MAX_ID)) -> None:
    """Mark a produced letter as sent; a lay summary also completes the case's result-letter step."""
    now = now_or(None)
    with session_scope() as session:
        sending = mark_sent(session, letter_id, actor=actor(), now=now)
        note = sending.note
    console.print(f"{note} ({shown_moment(now)})")


def letters(
    due: bool = typer.Option(False, "--due", help="The letters due (lay summaries owed), with their deadlines"),
    case_id: int | None = typer.Option(None, "--case", help="Only this case's letters", min=1, max=MAX_ID),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts (ids only)"),
    now: str | None = typer.Option(None, "--now", help="Count days left as of this ISO moment"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
) -> None:
    """The letters produced (newest first), or with --due the letters owed, earliest deadline first."""
    moment = now_or(now, allow_future=allow_future)
    with session_scope() as session:
        if due:
            owed = [item for item in letters_due(session, moment, actor=actor()) if case_id in (None, item.case_id)]
        else:
            made = [letter_json(letter) for letter in recorded_letters(session, case_id=case_id)]
    if due:
        show_due(owed, as_json)
    elif as_json:
        print_json(made)
    else:
        listing = table("Letters produced", ["Letter", "Case", "Kind", "Language", "To", "Channel", "Status", "Made"])
        for row in made:
            cells = [row["letter_id"], row["case_id"], words(row["kind"]), row["language"]]
            cells += [words(row["recipient_kind"]), words(row["channel"]), row["status"], row["produced_at"][:16]]
            listing.add_row(*(str(cell) for cell in cells))
        console.print(listing)


def show_due(owed: list[LetterDue], as_json: bool) -> None:
    if as_json:
        print_json([item.as_json() for item in owed])
        return
    listing = table("Letters due", ["Case", "Letter", "Due", "When"])
    for item in owed:
        when = days_left_words(item.days_left)
        shown = f"[bold red]{when}[/]" if item.overdue else when
        listing.add_row(str(item.case_id), kind_words(item.kind), shown_date(item.due_at), shown)
    console.print(listing)
