"""Mark a produced letter sent, and what that records.

Marking the lay summary (kind `result`) sent is the result-letter step done: in the same
transaction it records the pathway's `result_letter_sent` event through the engine
(tracking/cases/recording.py), with `density_sentence_included` read from the letter's own
stored inputs, and the letter keeps the event it recorded and the density statement (category
and text) that went out. A lay summary whose step is no longer open (a navigator recorded the
letter sent by hand, or the step was cancelled) is still marked sent, and says so. Any refusal
(the engine's, a second marking) leaves nothing written. The letter's `letter_unsent` alert
resolves with it. Audited with ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from tracking.alerts.unsent_letters import resolve_letter_alert
from tracking.audit import audit
from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case, Step
from tracking.cases.recording import record_event
from tracking.letters.density import is_dense
from tracking.letters.kinds import LetterKind, LetterStatus, kind_words
from tracking.letters.models import Letter
from tracking.letters.queries import existing_letter
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, EventKind

DENSITY_WORDS = {"dense": "the dense-tissue statement", "not_dense": "the not-dense statement"}


@dataclass(frozen=True)
class Sending:
    letter: Letter
    note: str  # what marking it sent did, in words (for the banner and the CLI)


def density_sent(inputs: dict[str, Any]) -> tuple[str | None, str | None]:
    """The density statement a lay summary carried, from its stored inputs: ("dense" | "not_dense", text),
    or (None, None) when the inputs hold no statement."""
    assessment = inputs.get("assessment")
    if not isinstance(assessment, dict):
        return None, None
    statement = assessment.get("density_statement")
    if not isinstance(statement, str) or not statement.strip():
        return None, None
    dense = assessment.get("dense")
    if not isinstance(dense, bool):
        dense = is_dense(str(assessment.get("density") or ""))
    return ("dense" if dense else "not_dense"), " ".join(statement.split())


def mark_sent(session: Session, letter_id: int, *, actor: str, now: datetime) -> Sending:
    """Record that a produced letter went out, in the caller's transaction (see the module's docstring)."""
    letter = existing_letter(session, letter_id)
    if letter.status == LetterStatus.sent:
        raise InvalidInput(f"letter {letter_id} was already marked sent")
    if now < letter.produced_at:
        raise InvalidInput(f"letter {letter_id} cannot be sent before it was produced")
    event_id = None
    density, statement = None, None
    if letter.kind == LetterKind.result:
        density, statement = density_sent(letter.inputs)
        if _step_open(session, letter):
            recorded = record_event(
                session, letter.case_id, EventKind.result_letter_sent, {"density_sentence_included": bool(statement)},
                actor=actor, now=now, idempotency_key=f"letter:{letter.id}:sent",
            )  # fmt: skip
            event_id = recorded.event_id
    letter.status, letter.sent_at, letter.sent_by = LetterStatus.sent.value, now, actor
    letter.sent_event_id, letter.sent_density, letter.sent_density_statement = event_id, density, statement
    session.add(letter)
    session.flush()
    resolve_letter_alert(session, letter.id or 0, now)
    audit(session, actor=actor, action="letter.sent", at=now, case_id=letter.case_id, letter_id=letter.id,
          channel=letter.channel, event_id=event_id, density=density)  # fmt: skip
    return Sending(letter, sending_note(session, letter))


def _step_open(session: Session, letter: Letter) -> bool:
    """Whether the result-letter step the letter answers is still open, read under the case's lock
    (the lock record_event takes next), so a navigator recording it by hand meanwhile is seen."""
    if letter.step_id is None:
        return False
    session.exec(select(Case.id).where(Case.id == letter.case_id).with_for_update()).first()
    status = session.exec(select(Step.status).where(Step.id == letter.step_id)).first()
    return status in OPEN_STEP_STATUSES


def sending_note(session: Session, letter: Letter) -> str:
    """What marking this sent letter did, from what it recorded: the same words after a redirect."""
    what = f"Letter {letter.id} ({kind_words(letter.kind)}, case {letter.case_id}) marked sent"
    if letter.kind != LetterKind.result:
        return f"{what}."
    carried = DENSITY_WORDS.get(letter.sent_density or "", "NO density statement")
    if letter.sent_event_id is not None:
        return f"{what} with {carried}: the result-letter step is complete (event {letter.sent_event_id})."
    status = session.exec(select(Step.status).where(Step.id == letter.step_id)).first() if letter.step_id else None
    if status is None:
        return f"{what} with {carried}. It answered no result-letter step, so no step changed."
    return f"{what} with {carried}. Its result-letter step was already {status}, so nothing else changed."
