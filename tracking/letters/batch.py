"""Print recorded letters as one PDF, pages in the order given, for the post room.

Each letter is rendered again from its stored inputs (a reprint: audited, never a new record, so
printing a batch twice records nothing twice) and its own bytes are checked against the hash
recorded when it was produced; the pages of all of them are then written as one PDF. A letter's
layout is templates.render_document's, the one render_pdf writes, kept as a WeasyPrint document so
its pages can join the others'; the hash check proves it is the same letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.letters.models import Letter
from tracking.letters.service import sha256
from tracking.letters.templates import render_document, render_html
from tracking.settings import Settings, get_settings

MAX_BATCH = 100  # letters in one PDF: each is laid out again, which takes a moment


@dataclass(frozen=True)
class Batch:
    pdf: bytes
    letter_ids: list[int]  # in page order
    differing: list[int]  # letters whose copy differs from the bytes recorded (templates or settings changed since)


def print_batch(
    session: Session, letter_ids: list[int], *, actor: str, now: datetime, settings: Settings | None = None
) -> Batch:
    """One PDF of the letters `letter_ids`, in that order (a letter named twice is printed once)."""
    wanted = list(dict.fromkeys(letter_ids))
    if not wanted:
        raise InvalidInput("choose at least one letter to print")
    if len(wanted) > MAX_BATCH:
        raise InvalidInput(f"print at most {MAX_BATCH} letters at a time ({len(wanted)} chosen)")
    found = {letter.id: letter for letter in session.exec(select(Letter).where(col(Letter.id).in_(wanted)))}
    missing = [letter_id for letter_id in wanted if letter_id not in found]
    if missing:
        raise NotFound(f"letter {missing[0]} does not exist")
    letters_dir = (settings or get_settings()).letters_dir
    documents, differing = [], []
    for letter_id in wanted:
        letter = found[letter_id]
        document = letter_document(letters_dir, letter.inputs)
        same = sha256(bytes(document.write_pdf())) == letter.pdf_sha256
        if not same:
            differing.append(letter_id)
        documents.append(document)
        audit(session, actor=actor, action="letter.reprinted", at=now, case_id=letter.case_id, letter_id=letter_id,
              same_as_recorded=same, batch_size=len(wanted))  # fmt: skip
    pages = [page for document in documents for page in document.pages]
    return Batch(bytes(documents[0].copy(pages).write_pdf()), wanted, differing)


def letter_document(letters_dir: Path, inputs: dict[str, Any]) -> Any:
    """A letter laid out as render_pdf lays it out, as a WeasyPrint document (pages)."""
    return render_document(letters_dir, render_html(letters_dir, inputs))
