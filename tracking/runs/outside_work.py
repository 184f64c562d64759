"""The outside work a case's decisions call for, queued in the outbox with dedupe keys.

Run by the per-case `workup` flow after the case opens and after every event. Queuing is
idempotent, so running it twice (after a crash, or a retry) sends nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.cases.models import CaseEvent, OutsideFacility, PriorFilmRequest, Step
from tracking.notify import recipients
from tracking.notify.outbox import enqueue
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, PriorFilmStatus, StepKind
from tracking.settings import Settings, get_settings


@dataclass
class OutsideWork:
    prior_film_requests: int = 0
    letter_notices: int = 0
    warnings: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def queue_outside_work(
    session: Session, case_id: int, now: datetime, *, settings: Settings | None = None
) -> OutsideWork:
    settings = settings or get_settings()
    work = OutsideWork()
    requests = session.exec(
        select(PriorFilmRequest, OutsideFacility)
        .join(OutsideFacility)
        .where(PriorFilmRequest.case_id == case_id, PriorFilmRequest.status == PriorFilmStatus.requested)
    ).all()
    for request, facility in requests:
        found, automatic = recipients.facility(facility.channel, facility.contact, settings)
        work.prior_film_requests += enqueue(
            session,
            kind="prior_film_request" if automatic else "prior_film_manual",
            recipients=found,
            dedupe_key=f"priors:{request.id}:request",
            now=now,
            case_id=case_id,
            step_id=request.step_id,
            facility_id=facility.id,
            payload={"facility": facility.name, "channel": facility.channel, "purpose": "first request",
                     "reference": f"BW-{case_id}-{facility.id}"},
        )  # fmt: skip
    letters = session.exec(
        select(Step).where(
            Step.case_id == case_id, Step.kind == StepKind.result_letter, col(Step.status).in_(OPEN_STEP_STATUSES)
        )
    ).all()
    for letter in letters:
        work.letter_notices += enqueue(
            session, kind="result_letter_due", recipients=recipients.navigators(settings),
            dedupe_key=f"letter-due:{letter.id}", now=now, case_id=case_id, step_id=letter.id,
            payload={"due": f"{letter.due_at:%Y-%m-%d}"},
        )  # fmt: skip
    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
    for event in events:
        if event.outcome.get("warnings"):
            work.warnings += enqueue(
                session, kind="event_warning", recipients=recipients.navigators(settings),
                dedupe_key=f"event-warning:{event.id}", now=now, case_id=case_id,
                payload={"event": event.kind, "warnings": len(event.outcome["warnings"])},
            )  # fmt: skip
    return work
