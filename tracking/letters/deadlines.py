"""When letters are due. The lay summary's deadline is the pathway's: the result_letter step's due
rule (calcifications.yaml: 7 days from the exam for BI-RADS 4A-5, else 30), which the engine already
applied to the step's due time; a case with no such step yet is measured with the same rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.models import Case, CaseEvent, Step
from tracking.centre_time import local
from tracking.pathway.definition import find_pathway
from tracking.pathway.vocabulary import OPEN_STEP_STATUSES, CaseStatus, StepKind


@dataclass(frozen=True)
class ResultBasis:
    """What a lay summary reports on: the assessment, the exam it read, and when the letter is due."""

    step_id: int | None
    event_id: int | None
    exam_at: datetime
    birads: str
    due_at: datetime | None


def result_basis(session: Session, case: Case) -> ResultBasis:
    """The open result-letter step due first (else the latest one) and the assessment that created it;
    with none, the case's opening exam and BI-RADS, due by the pathway's rule."""
    steps = list(session.exec(select(Step).where(Step.case_id == case.id, Step.kind == StepKind.result_letter)))
    open_steps = [step for step in steps if step.status in OPEN_STEP_STATUSES]
    step = min(open_steps, key=lambda s: s.due_at) if open_steps else max(steps, key=lambda s: s.id or 0, default=None)
    if step is not None:
        event = session.get(CaseEvent, step.created_by_event_id)
        if event is not None:
            birads = str(event.payload.get("birads") or case.birads)
            return ResultBasis(step.id, event.id, event.occurred_at, birads, step.due_at)
    return ResultBasis(None, None, case.opened_at, case.birads, result_due(case, case.opened_at, case.birads))


def result_due(case: Case, exam_at: datetime, birads: str) -> datetime | None:
    """The pathway's due time for a lay summary of `birads` read on `exam_at`; None without the rule."""
    try:
        pathway = find_pathway(case.pathway_name, case.pathway_version)
    except LookupError:
        return None
    rule = pathway.steps.get(StepKind.result_letter)
    return rule.due.due_from(exam_at, birads) if rule is not None else None


@dataclass(frozen=True)
class LetterDue:
    case_id: int
    step_id: int
    kind: str
    due_at: datetime
    days_left: int  # on the centre's calendar; negative: overdue by that many days

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    def as_json(self) -> dict[str, object]:
        day = local(self.due_at)
        return {
            "case_id": self.case_id,
            "step_id": self.step_id,
            "kind": self.kind,
            "due": f"{day:%Y-%m-%d}" if day else None,
            "due_at": self.due_at.isoformat(),
            "days_left": self.days_left,
            "overdue": self.overdue,
        }


def days_between(now: datetime, due_at: datetime) -> int:
    today, due = local(now), local(due_at)
    assert today is not None and due is not None
    return (due.date() - today.date()).days


def days_left_words(days_left: int) -> str:
    """'OVERDUE 2 days', 'due today', 'due in 3 days': how a letter's deadline reads on the centre's calendar."""
    days = abs(days_left)
    span = f"{days} day{'s' if days != 1 else ''}"
    return f"OVERDUE {span}" if days_left < 0 else ("due today" if days == 0 else f"due in {span}")


def letters_due(session: Session, now: datetime, *, actor: str) -> list[LetterDue]:
    """Lay summaries owed: every open result-letter step of a case not closed, the earliest due first. Audited."""
    rows = session.exec(
        select(Step.case_id, Step.id, Step.due_at)
        .join(Case, col(Case.id) == Step.case_id)
        .where(
            Step.kind == StepKind.result_letter,
            col(Step.status).in_(OPEN_STEP_STATUSES),
            Case.status != CaseStatus.closed,
        )
        .order_by(col(Step.due_at), col(Step.id))
    ).all()
    due = [
        LetterDue(case_id, int(step_id or 0), "result", due_at, days_between(now, due_at))
        for case_id, step_id, due_at in rows
    ]
    audit(session, actor=actor, action="letters.due_listed", at=now, count=len(due),
          case_ids=sorted({item.case_id for item in due}))  # fmt: skip
    return due
