"""The letters page: what is owed and what waits to be sent; produce, print, mark sent.

GET /letters lists lay summaries owed (overdue, due today, due soon) and letters produced but not
sent, with filters. POST /letters/produce produces an owed letter (the patient's language and the
letter's usual channel unless chosen). POST /letters/print answers one PDF of the chosen letters,
each rendered again from its stored inputs (a reprint, never a new record). GET
/letters/{letter_id}.pdf answers one letter. POST /letters/{letter_id}/send queues a letter to a
provider or a facility for delivery by fax or email (tracking/letters/sending.py: marked sent once
the mail server accepts it). POST /letters/sent marks the chosen letters sent, all
or none (a lay summary completes its result-letter step: tracking/letters/marking.py). A copy whose
bytes differ from the letter recorded is only handed out after a page that says so. Refused forms
answer 422 with the page and an error summary; saved ones redirect with a banner.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from tracking.cases.errors import InvalidInput, NotFound, WorkupError, classify
from tracking.centre_time import local
from tracking.letters.batch import MAX_BATCH, print_batch
from tracking.letters.kinds import KIND_WORDS, LetterChannel
from tracking.letters.language import available_languages
from tracking.letters.marking import mark_sent
from tracking.letters.models import Letter
from tracking.letters.sending import send_letter
from tracking.letters.service import produce_due_letter, reprint_letter
from tracking.pathway.fields import INT4_MAX
from tracking.settings import get_settings
from tracking.users.roles import NAVIGATE, SEND_LETTERS
from tracking.users.service import Signed
from tracking.web.deps import NowDep, Reader, SessionDep, require
from tracking.web.errors import record_refusal
from tracking.web.form_problems import Problems, sentence
from tracking.web.letters_page import Filters, an_id, banner, letter_ids, letters_context, read_filters
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)
Navigator = Annotated[Signed, Depends(require(*NAVIGATE))]
Sender = Annotated[Signed, Depends(require(*SEND_LETTERS))]
LetterId = Annotated[int, PathParam(ge=1, le=INT4_MAX)]
CHOOSE = "unsent-letters"  # the error summary's link when no letter, or a letter not listed, was chosen


def letters_page(request: Request, session: Session, signed: Signed, now: Any, *, filters: Filters | None = None,
                 problems: Problems | None = None, values: dict[str, str] | None = None,
                 saved: dict[str, Any] | None = None, difference: dict[str, Any] | None = None,
                 checked: list[int] | None = None, filter_problems: Problems | None = None,
                 status_code: int = 200) -> Response:  # fmt: skip
    filters = filters or Filters()
    context = letters_context(session, now, signed.user.username, filters)
    problems = problems or Problems()
    response: Response = page(
        request, "letters.html", status_code=status_code, nav="letters", problems=problems,
        summary=list(problems.items()), values=values or {}, banner=saved, difference=difference, now=now,
        max_batch=MAX_BATCH, checked=[str(item) for item in checked or []],
        filter_problems=list((filter_problems or Problems()).items()), **context,
    )  # fmt: skip
    return response


@router.get("/letters")
def letters(request: Request, session: SessionDep, now: NowDep, signed: Reader,
            saved: Annotated[str, Query(max_length=20)] = "") -> Response:  # fmt: skip
    filters, problems = read_filters(request.query_params)  # a mistyped link is named, never refused
    shown = banner(session, saved, letter_ids(request.query_params.getlist("letter")))
    answer = letters_page(request, session, signed, now, filters=filters, filter_problems=problems, saved=shown)
    session.commit()  # the audit rows of this view
    return answer


@router.post("/letters/produce")
async def produce(request: Request, session: SessionDep, now: NowDep, signed: Navigator) -> Response:
    form = await request.form()
    case_id = an_id(_text(form, "case_id"))
    prefix = f"p{case_id}" if case_id else "p"
    values = {f"{prefix}-language": _text(form, "language"), f"{prefix}-channel": _text(form, "channel")}
    kind = _text(form, "kind") or "result"
    problems = Problems()
    if case_id is None:
        problems.add("owed-heading", "Choose a letter to produce from the list of letters owed")
    if kind not in KIND_WORDS:
        problems.add(f"{prefix}-produce", "Choose a kind of letter from the list")
    language, channel = values[f"{prefix}-language"], values[f"{prefix}-channel"]
    if language and language not in available_languages(get_settings().letters_dir):
        problems.add(f"{prefix}-language", "Choose the language from the list")
    if channel and channel not in {item.value for item in LetterChannel}:
        problems.add(f"{prefix}-channel", "Choose how the letter is sent from the list")
    if problems or case_id is None:
        return _refused(request, session, signed, now, problems, values)
    try:
        letter, _ = produce_due_letter(session, case_id, kind, actor=signed.user.username, now=now,
                                       language=language or None, channel=channel or None)  # fmt: skip
    except WorkupError as refused:
        field = f"{prefix}-language" if "language" in str(refused) else f"{prefix}-channel"
        problems.add(field, sentence(str(refused)))
        known = classify(refused)
        status = 422 if isinstance(refused, (InvalidInput, NotFound)) or known is None else known.status
        return _refused(request, session, signed, now, problems, values, status_code=status)
    session.commit()
    return RedirectResponse(f"/letters?saved=produced&letter={letter.id}", status_code=303)


@router.post("/letters/print")
async def print_letters(request: Request, session: SessionDep, now: NowDep, signed: Navigator) -> Response:
    form = await request.form()
    chosen, problems = _chosen(form)
    if problems:
        return _refused(request, session, signed, now, problems)
    try:
        batch = print_batch(session, chosen, actor=signed.user.username, now=now)
    except (InvalidInput, NotFound) as refused:
        return _refused(request, session, signed, now, Problems({CHOOSE: sentence(str(refused))}), checked=chosen)
    session.commit()  # the audit rows of the reprints
    if batch.differing and _text(form, "accept_difference") != "yes":
        difference = {"letter_ids": batch.letter_ids, "differing": batch.differing}
        return letters_page(request, session, signed, now, difference=difference)
    stamp = f"{local(now):%Y%m%d-%H%M}"
    return _pdf(batch.pdf, f"letters-{stamp}.pdf", same=not batch.differing)


@router.get("/letters/{letter_id}.pdf")
def letter_pdf(request: Request, letter_id: LetterId, session: SessionDep, now: NowDep, signed: Reader,
               accept: Annotated[str, Query(max_length=10)] = "") -> Response:  # fmt: skip
    copy = reprint_letter(session, letter_id, actor=signed.user.username, now=now)  # NotFound: the 404 page
    session.commit()  # the audit row of the reprint
    if not copy.same_as_recorded and accept != "yes":
        answer: Response = page(request, "letter_differs.html", letter=copy.letter, nav="letters")
        return answer
    return _pdf(copy.pdf, f"letter-{letter_id}.pdf", same=copy.same_as_recorded)


@router.post("/letters/{letter_id}/send")
async def send(request: Request, letter_id: LetterId, session: SessionDep, now: NowDep, signed: Sender) -> Response:
    """Queue the letter for the outbox, to the number or address typed (blank: the facility's recorded one)."""
    form = await request.form()
    field = f"to-{letter_id}"
    to = _text(form, field)[:254] or None
    try:
        send_letter(session, letter_id, actor=signed.user.username, now=now, to=to)
    except NotFound:
        raise
    except WorkupError as refused:
        return _refused(request, session, signed, now, Problems({field: sentence(str(refused))}),
                        values={field: to or ""})  # fmt: skip
    session.commit()
    return RedirectResponse(f"/letters?saved=queued&letter={letter_id}", 303)


@router.post("/letters/sent")
async def sent(request: Request, session: SessionDep, now: NowDep, signed: Navigator) -> Response:
    form = await request.form()
    chosen, problems = _chosen(form)
    to_case = _text(form, "next") == "case"
    if to_case and len(chosen) != 1:
        problems.add(CHOOSE, "Mark one letter sent at a time from the case page")
    if problems:
        return _refused(request, session, signed, now, problems, checked=chosen)
    letter_id, sendings = chosen[0], []
    try:
        for letter_id in chosen:
            sendings.append(mark_sent(session, letter_id, actor=signed.user.username, now=now))
    except WorkupError as refused:
        refusal = getattr(refused, "refusal", None)
        message = sentence(f"letter {letter_id}: {refusal.message}" if refusal else str(refused))
        session.rollback()
        letter = session.get(Letter, letter_id)
        if to_case and letter is not None:
            return _refused_on_case(request, session, signed, now, letter, message)
        listed = letter is not None and letter.status == "produced"  # its tick box is on the page
        field = f"letter-{letter_id}" if listed else CHOOSE
        return _refused(request, session, signed, now, Problems({field: message}), checked=chosen)
    cases = {sending.letter.case_id for sending in sendings}
    session.commit()
    if to_case:
        return RedirectResponse(f"/cases/{cases.pop()}?saved=letter_sent&letter={chosen[0]}", 303)
    return RedirectResponse("/letters?saved=sent&" + "&".join(f"letter={item}" for item in chosen), 303)


def _pdf(pdf: bytes, filename: str, *, same: bool) -> Response:
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Letter-Same-As-Recorded": "yes" if same else "no",
    })  # fmt: skip


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _chosen(form: FormData) -> tuple[list[int], Problems]:
    """The letters ticked (`letter`, repeated), in the order given; each must be a letter number."""
    problems = Problems()
    raw = [value.strip() for value in form.getlist("letter") if isinstance(value, str)]
    chosen = [an_id(value) for value in raw]
    if not raw:
        problems.add(CHOOSE, "Choose at least one letter")
    elif None in chosen:
        shown = next(value for value, found in zip(raw, chosen, strict=True) if found is None)[:20]
        problems.add(CHOOSE, f"'{shown}' is not a letter number")
    elif len(set(chosen)) > MAX_BATCH:
        problems.add(CHOOSE, f"Choose at most {MAX_BATCH} letters at a time")
    return list(dict.fromkeys(item for item in chosen if item is not None)), problems


def _refused(request: Request, session: Session, signed: Signed, now: Any, problems: Problems,
             values: dict[str, str] | None = None, status_code: int = 422,
             checked: list[int] | None = None) -> Response:  # fmt: skip
    """Nothing is saved: roll back, audit the refusal, and show the page with the error summary."""
    session.rollback()
    record_refusal(request, status_code)
    answer = letters_page(request, session, signed, now, problems=problems, values=values, status_code=status_code,
                          checked=checked)  # fmt: skip
    session.commit()  # the audit rows of this view only
    return answer


def _refused_on_case(request: Request, session: Session, signed: Signed, now: Any, letter: Letter,
                     message: str) -> Response:  # fmt: skip
    from tracking.web.case_page import Forms, load_case_page

    case_id = letter.case_id
    field = f"case-letter-{letter.id}" if letter.status == "produced" else "letters-heading"
    session.rollback()
    record_refusal(request, 422)
    context = load_case_page(session, case_id, signed, now, forms=Forms(problems=[(field, message)]))
    session.commit()
    answer: Response = page(request, "case.html", status_code=422, **context)
    return answer
