"""Where a case stands after a missed appointment: which step was missed and how many attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracking.pathway.decision import CaseState, HistoryEntry

if TYPE_CHECKING:
    from tracking.pathway.definition import Pathway

MISSED = "appointment_missed"
ATTEMPT = "contact_attempt"
REACHED = ("rescheduled", "reached")  # attempt outcomes in which the patient was reached


def _since_last_missed(case: CaseState) -> list[HistoryEntry]:
    entries = list(case.history)
    missed = [index for index, entry in enumerate(entries) if entry.kind == MISSED]
    return entries[missed[-1] :] if missed else []


def last_missed_step(case: CaseState) -> str | None:
    since = _since_last_missed(case)
    return since[0].payload.get("step") if since else None


def attempts_since_missed(case: CaseState) -> int:
    """Failed contact attempts logged since the last missed appointment."""
    return sum(
        1 for entry in _since_last_missed(case) if entry.kind == ATTEMPT and entry.payload.get("outcome") not in REACHED
    )


def next_contact_attempt(pathway: Pathway, case: CaseState) -> str:
    """'call' or 'letter' for the next attempt, or 'wait' once every attempt has been made."""
    made = attempts_since_missed(case)
    attempts = pathway.no_show.attempts
    return attempts[made] if made < len(attempts) else "wait"
