"""Letters produced and not yet sent, and when each must go out.

One rule for the deadline, written once in SQL so that the alert sweep
(tracking/alerts/unsent_letters.py) and the letters page read the same: a lay summary goes by its
result-letter step's due time (the MQSA deadline the pathway set); any other letter, and a lay
summary that answered no step, within WORKUP_LETTER_SEND_WITHIN_DAYS of being produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from tracking.letters.deadlines import days_between
from tracking.letters.models import Letter
from tracking.settings import Settings, get_settings

# `l` is the letter; LETTER_STEP joins its step as `ls`; :send_within_days is the setting.
LETTER_STEP = "LEFT JOIN steps ls ON ls.id = l.step_id"
SEND_BY = (
    "CASE WHEN l.kind = 'result' AND ls.id IS NOT NULL THEN ls.due_at "
    "ELSE l.produced_at + make_interval(days => CAST(:send_within_days AS int)) END"
)

UNSENT = text(
    f"""
    SELECT l.id, {SEND_BY} AS send_by FROM letters l {LETTER_STEP}
    WHERE l.status = 'produced' AND (CAST(:kind AS text) IS NULL OR l.kind = CAST(:kind AS text))
    ORDER BY send_by, l.id
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class Unsent:
    letter: Letter
    send_by: datetime
    days_left: int  # on the centre's calendar; negative: overdue by that many days

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def unsent_letters(
    session: Session, now: datetime, *, kind: str | None = None, limit: int = 500, settings: Settings | None = None
) -> list[Unsent]:
    """Produced letters not yet marked sent, the earliest deadline first."""
    settings = settings or get_settings()
    params = {"send_within_days": settings.letter_send_within_days, "kind": kind, "limit": limit}
    deadlines = {letter_id: send_by for letter_id, send_by in session.execute(UNSENT, params).all()}
    if not deadlines:
        return []
    letters = {letter.id: letter for letter in session.exec(select(Letter).where(col(Letter.id).in_(deadlines)))}
    return [
        Unsent(letters[letter_id], send_by, days_between(now, send_by))
        for letter_id, send_by in deadlines.items()
        if letter_id in letters
    ]
