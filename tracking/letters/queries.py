"""The record of letters produced, for lists (ids, kinds and dates only: no names)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

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
        "pdf_sha256": letter.pdf_sha256,
    }
