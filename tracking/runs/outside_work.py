"""The outside work a case's decisions call for, queued in the outbox with dedupe keys.

Called in the transaction that made the decision (opening a case, recording an event), so nothing
a patient needs depends on a flow having run (ADR 7). The per-case `workup` flow calls it again
before it delivers: queuing is idempotent, so a second call (after a crash, or a retry) sends
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.cases.models import CaseEvent, Step
from tracking.notify import recipients
from tracking.notify.outbox import enqueue
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, StepKind
from tracking.reminders.priors import request_prior_films
from tracking.settings import Settings, get_settings


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
            session, kind="result_letter_due", recipients=navigators, dedupe_key=f"letter-due:{letter_id}",
            now=now, case_id=case_id, step_id=letter_id, payload={"due": f"{due_at:%Y-%m-%d}"},
        )  # fmt: skip
    events = select(CaseEvent.id, CaseEvent.kind, CaseEvent.outcome).where(CaseEvent.case_id == case_id)
    if event_id is not None:
        events = events.where(CaseEvent.id == event_id)
    for found_id, kind, outcome in session.exec(events).all():
        if outcome.get("warnings"):
            work.warnings += enqueue(
                session, kind="event_warning", recipients=navigators, dedupe_key=f"event-warning:{found_id}",
                now=now, case_id=case_id, payload={"event": kind, "warnings": len(outcome["warnings"])},
            )  # fmt: skip
    return work
