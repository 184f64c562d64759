"""Missed appointments: send the letter when its turn comes, and declare "lost to follow-up"
when every attempt has failed and the wait after the last one has run out.

Calls are made and logged by navigators; a call not logged in time leaves the patient-contact
step overdue, which the sweep turns into an alert. Both writes below go through record_event,
so the pathway's guards and the audit log apply, and idempotency keys make reruns harmless.

A case already lost to follow-up is never declared lost again: its open contact steps still get
their letter (a letter leaves the case lost), but the wait after the last attempt ends in nothing
new; the step stays overdue for the sweep to show a navigator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.cases.errors import WorkupError
from tracking.cases.models import Case, Step
from tracking.cases.queries import ACTIVE_CASE_STATUSES
from tracking.cases.recording import record_event
from tracking.cases.state import case_state
from tracking.notify import recipients
from tracking.notify.outbox import enqueue
from tracking.pathway.definition import all_pathways, find_pathway
from tracking.pathway.engine import last_missed_step, next_contact_attempt
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, CaseStatus
from tracking.settings import Settings, get_settings

SYSTEM_ACTOR = "system:reminders"


def contact_steps() -> list[str]:
    """The patient-contact step kind of every pathway file (`no_show.contact_step`)."""
    return sorted({pathway.no_show.contact_step for pathway in all_pathways()})


@dataclass
class NoShowReport:
    letters: int = 0
    lost_to_follow_up: int = 0
    skipped: int = 0
    letter_case_ids: list[int] = field(default_factory=list)
    lost_case_ids: list[int] = field(default_factory=list)
    skipped_case_ids: list[int] = field(default_factory=list)


def advance_missed_appointments(session: Session, now: datetime, *, settings: Settings | None = None) -> NoShowReport:
    """Act on every open patient-contact step as of `now`; each case in its own savepoint."""
    settings = settings or get_settings()
    report = NoShowReport()
    steps = session.exec(
        select(Step, Case)
        .join(Case, Case.id == Step.case_id)
        .where(col(Step.kind).in_(contact_steps()), col(Step.status).in_(OPEN_STEP_STATUSES))
        .where(col(Case.status).in_(ACTIVE_CASE_STATUSES))
        .order_by(Step.id)
    ).all()
    for step, case in steps:
        state = case_state(session, case)
        next_attempt = next_contact_attempt(find_pathway(case.pathway_name, case.pathway_version), state)
        try:
            with session.begin_nested():
                if next_attempt == "letter":
                    if _send_letter(session, step, last_missed_step(state), now, settings):
                        report.letters += 1
                        report.letter_case_ids.append(case.id)
                elif next_attempt == "wait" and step.due_at <= now and case.status != CaseStatus.lost_to_follow_up:
                    declared = record_event(
                        session, case.id, "lost_to_follow_up_declared",
                        {"reason": "No contact after every attempt and the wait that follows"},
                        actor=SYSTEM_ACTOR, now=now, idempotency_key=f"lost:{step.id}",
                    )  # fmt: skip
                    if not declared.replayed:
                        report.lost_to_follow_up += 1
                        report.lost_case_ids.append(case.id)
        except WorkupError:
            report.skipped += 1  # the case changed under us; the next run looks again
            report.skipped_case_ids.append(case.id)
    return report


def _send_letter(session: Session, step: Step, missed: str | None, now: datetime, settings: Settings) -> bool:
    """Queue the letter and record it as a contact attempt; False when there is nobody to send it to."""
    found = recipients.patient_messaging(settings)
    if not found:
        return False  # nobody to send it: the contact step goes overdue and the sweep alerts a navigator
    enqueue(
        session, kind="contact_letter", recipients=found, dedupe_key=f"contact-letter:{step.id}", now=now,
        case_id=step.case_id, step_id=step.id, payload={"step": missed or "appointment"},
    )  # fmt: skip
    recorded = record_event(
        session, step.case_id, "contact_attempt", {"method": "letter", "outcome": "letter_sent"},
        actor=SYSTEM_ACTOR, now=now, idempotency_key=f"contact-letter:{step.id}",
    )  # fmt: skip
    return not recorded.replayed
