"""A navigator's own work on a case page: how to reach the patient, notes, and tasks.

Each form posts here and, when saved, goes back to the case with a banner (Post/Redirect/Get:
`?saved=contact|note|task|task_done|task_cancelled`). A refused form shows the case page again
with the error summary at the top linking to each field, and what was typed kept; nothing is saved.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from tracking.cases.errors import InvalidInput, NotFound, WorkupError
from tracking.cases.models import Case
from tracking.centre_time import typed_moment
from tracking.navigation.notes import add_note
from tracking.navigation.tasks import add_task, close_task
from tracking.pathway.fields import INT4_MAX
from tracking.patients.contact_details import update_contact_details
from tracking.users.roles import NAVIGATE
from tracking.users.service import Signed
from tracking.web.case_page import Forms, load_case_page
from tracking.web.contact_view import form_values, read_contact_form
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.errors import record_refusal
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)

CaseId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
TaskId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
END_OF_DAY = time(23, 59)  # a task due "on Thursday" is overdue from Friday


async def _form(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.form()).items()}


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case


def _saved(case_id: int, what: str) -> Response:
    return RedirectResponse(f"/cases/{case_id}?saved={what}", status_code=303)


def _refused(request: Request, session: Session, case_id: int, signed: Signed, now: datetime, forms: Forms) -> Response:
    """The case page again, with the error summary and what was typed; the refused write saved nothing."""
    session.rollback()
    record_refusal(request, 422)
    context = load_case_page(session, case_id, signed, now, forms=forms)
    session.commit()  # the audit row of this view
    answer: Response = page(request, "case.html", status_code=422, **context)
    return answer


@router.post("/cases/{case_id}/contact-details")
async def save_contact_details(request: Request, case_id: CaseId, session: SessionDep, now: NowDep,
                               signed: Signed = Depends(require(*NAVIGATE))) -> Response:  # fmt: skip
    form = await _form(request)
    case = _case(session, case_id)
    details, problems = read_contact_form(form)
    if details is None:
        return _refused(request, session, case_id, signed, now, Forms(problems=problems, contact=form_values(form)))
    update_contact_details(session, case.patient_id, details, actor=signed.user.username, now=now, case_id=case_id)
    session.commit()
    return _saved(case_id, "contact")


@router.post("/cases/{case_id}/notes")
async def save_note(request: Request, case_id: CaseId, session: SessionDep, now: NowDep,
                    signed: Signed = Depends(require(*NAVIGATE))) -> Response:  # fmt: skip
    form = await _form(request)
    _case(session, case_id)
    body = form.get("body", "")
    try:
        add_note(session, case_id, body, actor=signed.user.username, now=now)
    except InvalidInput as refused:
        forms = Forms(problems=[("note-body", _sentence(refused))], note=body)
        return _refused(request, session, case_id, signed, now, forms)
    session.commit()
    return _saved(case_id, "note")


@router.post("/cases/{case_id}/tasks")
async def save_task(request: Request, case_id: CaseId, session: SessionDep, now: NowDep,
                    signed: Signed = Depends(require(*NAVIGATE))) -> Response:  # fmt: skip
    form = await _form(request)
    _case(session, case_id)
    values = {name: form.get(name, "") for name in ("title", "due", "assignee")}
    try:
        due_at = typed_moment(values["due"], what="the due date", default_time=END_OF_DAY)
        add_task(session, case_id, values["title"], due_at, actor=signed.user.username, now=now,
                 assignee=values["assignee"] or None)  # fmt: skip
    except InvalidInput as refused:
        message = _sentence(refused)
        field = "task-due" if "due" in message else "task-assignee" if "give the task" in message else "task-title"
        return _refused(request, session, case_id, signed, now, Forms(problems=[(field, message)], task=values))
    session.commit()
    return _saved(case_id, "task")


@router.post("/cases/{case_id}/tasks/{task_id}/close")
async def finish_task(request: Request, case_id: CaseId, task_id: TaskId, session: SessionDep, now: NowDep,
                      signed: Signed = Depends(require(*NAVIGATE))) -> Response:  # fmt: skip
    form = await _form(request)
    outcome = form.get("outcome", "")
    if outcome not in ("done", "cancel"):
        raise InvalidInput("say whether the task is done or cancelled (outcome done or cancel)")
    try:
        close_task(session, task_id, done=outcome == "done", actor=signed.user.username, now=now, case_id=case_id)
    except NotFound:
        raise
    except WorkupError as refused:  # already closed (another tab, another navigator)
        return _refused(request, session, case_id, signed, now, Forms(problems=[("tasks", _sentence(refused))]))
    session.commit()
    return _saved(case_id, "task_done" if outcome == "done" else "task_cancelled")


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:]
