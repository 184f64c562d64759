"""Navigator tasks: "call back Thursday", with a due time, on one case.

An open task not yet past its due time is a dated next item: the stalled-case sweep does not
alert a case that has one (tracking/alerts/stalled_cases.py). A task past due no longer counts,
so a forgotten task never hides a case with nothing else next.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case
from tracking.navigation.models import TASK_TITLE_MAX_LENGTH, NavigatorTask, TaskStatus
from tracking.pathway.fields import plain_text
from tracking.pathway.vocabulary import CaseStatus
from tracking.users.models import User

MAX_AHEAD = timedelta(days=400)
CLOCK_SKEW = timedelta(minutes=5)


def add_task(
    session: Session,
    case_id: int,
    title: str,
    due_at: datetime | None,
    *,
    actor: str,
    now: datetime,
    assignee: str | None = None,
) -> NavigatorTask:
    """Add an open task to an open or lost case, in the caller's transaction."""
    text = " ".join(title.split())
    if not text:
        raise InvalidInput("the task needs a title, such as 'Call back about the biopsy date'")
    if len(text) > TASK_TITLE_MAX_LENGTH:
        raise InvalidInput(f"the task title may be at most {TASK_TITLE_MAX_LENGTH} characters (got {len(text)})")
    try:
        plain_text(text)
    except ValueError as error:
        raise InvalidInput(f"the task title {error}") from None
    if due_at is None:
        raise InvalidInput("the task needs a due date")
    if due_at.tzinfo is None:
        raise InvalidInput("the task's due time needs a time zone")
    if due_at < now - CLOCK_SKEW:
        raise InvalidInput("the task's due date is in the past; choose today or later")
    if due_at > now + MAX_AHEAD:
        raise InvalidInput(f"the task's due date is more than {MAX_AHEAD.days} days ahead")
    if assignee:
        known = session.exec(select(User.id).where(User.username == assignee, col(User.disabled_at).is_(None))).first()
        if known is None:
            raise InvalidInput(f"there is no active user {assignee!r} to give the task to")
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if case.status == CaseStatus.closed:
        raise InvalidInput(f"case {case_id} is closed; a closed case takes no tasks")
    task = NavigatorTask(case_id=case_id, title=text, due_at=due_at, assignee=assignee or None, created_by=actor,
                         created_at=now)  # fmt: skip
    session.add(task)
    session.flush()
    audit(session, actor=actor, action="task.added", at=now, case_id=case_id, task_id=task.id)
    return task


def close_task(
    session: Session, task_id: int, *, done: bool, actor: str, now: datetime, case_id: int | None = None
) -> NavigatorTask:
    """Mark an open task done (or cancel it), in the caller's transaction. Closing a closed task is refused."""
    task = session.exec(
        select(NavigatorTask).where(NavigatorTask.id == task_id).with_for_update()
        .execution_options(populate_existing=True)
    ).first()  # fmt: skip
    if task is None or (case_id is not None and task.case_id != case_id):
        raise NotFound(f"task {task_id} does not exist" + (f" on case {case_id}" if case_id is not None else ""))
    if task.status != TaskStatus.open:
        raise InvalidInput(f"task {task_id} is already {task.status}")
    task.status = TaskStatus.done if done else TaskStatus.cancelled
    task.closed_by, task.closed_at = actor, now
    session.add(task)
    audit(session, actor=actor, action="task.done" if done else "task.cancelled", at=now, case_id=task.case_id,
          task_id=task.id)  # fmt: skip
    return task


def case_tasks(session: Session, case_id: int) -> list[NavigatorTask]:
    """The case's tasks: open ones first by due time, then closed ones, latest first."""
    tasks = list(session.exec(select(NavigatorTask).where(NavigatorTask.case_id == case_id)))
    open_ = sorted((t for t in tasks if t.status == TaskStatus.open), key=lambda t: (t.due_at, t.id))
    closed = sorted((t for t in tasks if t.status != TaskStatus.open), key=lambda t: t.closed_at or t.created_at,
                    reverse=True)  # fmt: skip
    return open_ + closed
