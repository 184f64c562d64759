"""The record of letters produced, for lists (ids, kinds and dates only: no names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tracking.audit import AuditEntry
from tracking.cases.errors import NotFound
from tracking.letters.models import Letter


def recorded_letters(session: Session, *, case_id: int | None = None, limit: int = 200) -> list[Letter]:
    query = select(Letter).order_by(col(Letter.produced_at).desc(), col(Letter.id).desc()).limit(limit)
    if case_id is not None:
        query = query.where(Letter.case_id == case_id)
    return list(session.exec(query))


def letter_json(letter: Letter) -> dict[str, Any]:
    """A letter as lists show it: ids, kind, language, channel, status and times; never its inputs."""
    return {
        "letter_id": letter.id,
        "case_id": letter.case_id,
        "kind": letter.kind,
        "language": letter.language,
        "recipient_kind": letter.recipient_kind,
        "facility_id": letter.facility_id,
        "step_id": letter.step_id,
        "channel": letter.channel,
        "status": letter.status,
        "produced_by": letter.produced_by,
        "produced_at": letter.produced_at.isoformat(),
        "sent_by": letter.sent_by,
        "sent_at": letter.sent_at.isoformat() if letter.sent_at else None,
        "sent_event_id": letter.sent_event_id,  # the result_letter_sent event marking a lay summary sent recorded
        "sent_density": letter.sent_density,  # dense | not_dense: the statement a sent lay summary carried
        "pdf_sha256": letter.pdf_sha256,
    }


@dataclass(frozen=True)
class Reprinted:
    at: datetime
    actor: str
    letter_id: int
    same_as_recorded: bool


def letter_reprints(session: Session, case_id: int) -> list[Reprinted]:
    """Every time a case's letters were rendered again (the audit rows of reprints and batch prints)."""
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.case_id == case_id, AuditEntry.action == "letter.reprinted")
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
    )
    return [
        Reprinted(
            entry.at, entry.actor, int(entry.detail.get("letter_id") or 0), bool(entry.detail.get("same_as_recorded"))
        )
        for entry in entries
    ]


def locked_letter(session: Session, letter_id: int) -> Letter | None:
    """The letter, row-locked and read afresh, for changing its status; None when there is no such letter."""
    return session.exec(
        select(Letter).where(Letter.id == letter_id).with_for_update().execution_options(populate_existing=True)
    ).first()


def existing_letter(session: Session, letter_id: int) -> Letter:
    """locked_letter, or NotFound naming it."""
    letter = locked_letter(session, letter_id)
    if letter is None:
        raise NotFound(f"letter {letter_id} does not exist")
    return letter
