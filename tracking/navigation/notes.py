"""Case notes: what a navigator wants the next person to know. Append-only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case
from tracking.navigation.models import NOTE_MAX_LENGTH, CaseNote
from tracking.pathway.fields import bounded_text


def add_note(session: Session, case_id: int, body: str, *, actor: str, now: datetime) -> CaseNote:
    """Add a note to the case, in the caller's transaction."""
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput("the note is empty; write what the next person should know")
    bounded_text(text, what="the note", max_length=NOTE_MAX_LENGTH)
    if session.get(Case, case_id) is None:
        raise NotFound(f"case {case_id} does not exist")
    note = CaseNote(case_id=case_id, author=actor, body=text, created_at=now)
    session.add(note)
    session.flush()
    audit(session, actor=actor, action="case.note_added", at=now, case_id=case_id, note_id=note.id)
    return note


def case_notes(session: Session, case_id: int) -> list[CaseNote]:
    query = select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.created_at, CaseNote.id)
    return list(session.exec(query))
