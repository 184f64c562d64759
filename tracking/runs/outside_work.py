"""The outside work a case's decisions call for, queued in the outbox with dedupe keys.

Called in the transaction that made the decision (opening a case, recording an event), so nothing
a patient needs depends on a flow having run (ADR 7). The per-case `workup` flow calls it again
before it delivers: queuing is idempotent, so a second call (after a crash, or a retry) sends
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tracking.cases.models import CaseEvent, Step
from tracking.notify import recipients
from tracking.notify.outbox import enqueue
from tracking.pathway.decision import NewStep
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, StepKind
from tracking.reminders.priors import request_prior_films
from tracking.settings import Settings, get_settings

# Each notice once: "{step}" and "{event}" stand for the letter step's and the event's ids.
LETTER_DUE_KEY = "letter-due:{step}"
EVENT_WARNING_KEY = "event-warning:{event}"


@dataclass
class OutsideWork:
    prior_film_requests: int = 0
    letter_notices: int = 0
    warnings: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def queue_outside_work(
    session: Session, case_id: int, now: datetime, *, event_id: int | None = None, settings: Settings | None = None
) -> OutsideWork:
    """Queue film requests, result-letter notices and event warnings; `event_id` limits warnings to that event."""
    settings = settings or get_settings()
    work = OutsideWork()
    work.prior_film_requests = request_prior_films(session, case_id, now, settings=settings)
    navigators = recipients.navigators(settings)
    if not navigators:
        return work
    letters = session.exec(
        select(Step.id, Step.due_at).where(
            Step.case_id == case_id, Step.kind == StepKind.result_letter, col(Step.status).in_(OPEN_STEP_STATUSES)
        )
    ).all()
    for letter_id, due_at in letters:
        work.letter_notices += enqueue(
            session, kind="result_letter_due", recipients=navigators,
            dedupe_key=LETTER_DUE_KEY.format(step=letter_id), now=now, case_id=case_id, step_id=letter_id,
            payload=letter_due_payload(due_at),
        )  # fmt: skip
    events = select(CaseEvent.id, CaseEvent.kind, CaseEvent.outcome).where(CaseEvent.case_id == case_id)
    if event_id is not None:
        events = events.where(CaseEvent.id == event_id)
    for found_id, kind, outcome in session.exec(events).all():
        if outcome.get("warnings"):
            work.warnings += enqueue(
                session, kind="event_warning", recipients=navigators,
                dedupe_key=EVENT_WARNING_KEY.format(event=found_id), now=now, case_id=case_id,
                payload=warning_payload(kind, outcome["warnings"]),
            )  # fmt: skip
    return work


def letter_due_payload(due_at: datetime) -> dict[str, Any]:
    return {"due": f"{due_at:%Y-%m-%d}"}


def warning_payload(event_kind: str, warnings: list) -> dict[str, Any]:
    return {"event": event_kind, "warnings": len(warnings)}


def decision_notices(
    created: list[NewStep], event_kind: str, warnings: list, *, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """What queue_outside_work would queue for one decision's own event and steps, as message rows for
    the statement that writes the decision (tracking/cases/applying.py): a notice per result letter it
    creates and one for its warnings. `step_n` is the created step's place in `created` (its id is
    not known yet); the keys keep their "{step}" and "{event}" placeholders. Film requests are not
    here: they need their request rows written first (request_prior_films, after the decision)."""
    navigators = recipients.navigators(settings or get_settings())
    notices: list[dict[str, Any]] = []
    for person in navigators:
        for number, step in enumerate(created):
            if step.kind == StepKind.result_letter and step.status in OPEN_STEP_STATUSES:
                notices.append(
                    {"kind": "result_letter_due", "channel": person.channel, "address": person.address,
                     "step_n": number, "payload": letter_due_payload(step.due_at), "key": LETTER_DUE_KEY}
                )  # fmt: skip
        if warnings:
            notices.append(
                {"kind": "event_warning", "channel": person.channel, "address": person.address, "step_n": None,
                 "payload": warning_payload(event_kind, warnings), "key": EVENT_WARNING_KEY}
            )  # fmt: skip
    return notices
