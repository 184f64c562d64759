"""One boundary for every error: the pages render error.html, the API answers JSON, nothing answers 500.

The status of each error class comes from the one error table in tracking/cases/errors.py, which
the CLI uses for its exit codes too. The request's own transaction is rolled back by the unit of
work (tracking/web/deps.py) before these handlers run; denials (401/403) and refused writes are
recorded in the audit log in a short transaction of their own, with ids and the path only.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracking.audit import audit
from tracking.cases.errors import WorkupError, classify, describe
from tracking.clock import wall_clock
from tracking.db import DatabaseUnavailable, get_engine
from tracking.fhir.codes import MEDIA_TYPE as FHIR_JSON
from tracking.fhir.outcome import FhirError, operation_outcome
from tracking.pathway.fields import bounded_text
from tracking.web.deps import Forbidden, LoginRequired, is_api, is_fhir
from tracking.web.templating import page

log = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAVAILABLE = "The database is unavailable. Nothing was saved; try again in a moment."
TITLES = {
    400: "Bad request",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Changed since you read it",
    413: "Too large",
    422: "Invalid request",
    503: "Unavailable",
}
INT4_MAX = 2**31 - 1
# What /fhir says for the framework's own 404 and 405 (Starlette's words are "Not Found" and "Method Not Allowed").
FHIR_HTTP_WORDS = {
    404: "nothing is served at {path}; GET /fhir/metadata lists the resource types this server reads",
    405: "this FHIR server is read-only: only GET is served at {path}",
}


def _actor(request: Request) -> str:
    signed = getattr(request.state, "signed", None)
    try:
        return signed.user.username if signed else "anonymous"
    except Exception:  # a user object the session no longer holds
        return "unknown"


def _an_id(value: Any) -> bool:
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= INT4_MAX


def record_refusal(request: Request, status: int) -> None:
    """Audit a denial (401/403) or a refused write (a 4xx to POST/PUT/PATCH/DELETE); never the body."""
    if status in (401, 403):
        action = "request.denied"
    elif 400 <= status < 500 and request.method in WRITES:
        action = "write.refused"
    else:
        return
    detail: dict[str, Any] = {"method": request.method, "path": request.url.path[:300], "status": status}
    ids = {name: int(value) for name, value in request.path_params.items() if _an_id(value)}
    if ids:
        detail["ids"] = ids
    try:
        with Session(get_engine()) as session:
            audit(session, actor=_actor(request)[:120], action=action, at=wall_clock(), **detail)
            session.commit()
    except Exception as error:  # the answer still goes out; say why the audit row is missing
        log.warning("could not audit %s %s (%s): %s", action, status, request.url.path[:300], type(error).__name__)


def answer(
    request: Request,
    status: int,
    message: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    issue_code: str | None = None,
    parameter: str | None = None,
) -> Response:
    """The error answer: an OperationOutcome under /fhir (400 for what /api answers 422), JSON under /api,
    otherwise the error page; audited when it is a denial or refused write."""
    record_refusal(request, status)
    if is_fhir(request):
        shown = 400 if status == 422 else status
        outcome = operation_outcome(shown, message, code=issue_code, parameter=parameter)
        return JSONResponse(outcome, status_code=shown, headers=headers, media_type=FHIR_JSON)
    if is_api(request):
        return JSONResponse({"error": message, **(extra or {})}, status_code=status, headers=headers)
    response = page(
        request, "error.html", status_code=status, title=TITLES.get(status, "Request refused"), message=message
    )
    response.headers.update(headers or {})
    return response


def _validation_problems(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'] if part != 'body')}: {item['msg']}" for item in errors
    )


def _no_such_page(request: Request) -> str:
    """What a page address that cannot exist points at, in words: "There is no case 'abc'."."""
    parts = [part for part in request.url.path.split("/") if part]
    things = {"cases": "case", "alerts": "alert", "facilities": "facility", "tasks": "task", "letters": "letter"}
    if len(parts) >= 2 and parts[0] in things:
        shown = parts[1][:40]
        return f"There is no {things[parts[0]]} {shown!r}. Check the address, or find the patient from the worklist."
    return "There is no page at this address. Check the address, or start again from the worklist."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    def login_required(request: Request, _: LoginRequired) -> Response:
        if is_api(request):
            return answer(request, 401, "sign in or send an API token", headers={"WWW-Authenticate": "Bearer"})
        record_refusal(request, 401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, error: Forbidden) -> Response:
        return answer(request, 403, error.message)

    @app.exception_handler(FhirError)
    def fhir_refused(request: Request, error: FhirError) -> Response:
        return answer(request, error.status, error.message, issue_code=error.code, parameter=error.parameter)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = error.detail if isinstance(error.detail, str) else "the request was refused"
        if (
            is_fhir(request)
            and error.status_code in FHIR_HTTP_WORDS
            and message == HTTPStatus(error.status_code).phrase
        ):
            message = FHIR_HTTP_WORDS[error.status_code].format(path=request.url.path[:100])
        elif error.status_code == 404 and message == "Not Found" and not is_api(request):
            message = _no_such_page(request)
        return answer(
            request,
            error.status_code,
            message,
            headers=dict(error.headers or {}),
            issue_code="not-supported" if is_fhir(request) and error.status_code in (404, 405) else None,
        )

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = list(error.errors())
        if (is_fhir(request) or not is_api(request)) and any(item["loc"][:1] == ("path",) for item in problems):
            if is_fhir(request):
                return answer(request, 404, f"there is no resource at {request.url.path[:100]}")
            return answer(request, 404, _no_such_page(request))  # a mistyped address: /cases/abc
        return answer(request, 422, f"invalid request: {_validation_problems(problems)}")

    @app.exception_handler(WorkupError)
    def refused(request: Request, error: WorkupError) -> Response:
        refusal = getattr(error, "refusal", None)
        extra = {"guard": refusal.guard if refusal else None, "field": refusal.field if refusal else None}
        message = refusal.message if refusal else describe(error)  # the guard has its own key in JSON
        return answer(request, classify(error).status, message, extra=extra)

    @app.exception_handler(ValidationError)
    @app.exception_handler(IntegrityError)
    @app.exception_handler(DataError)
    def bad_value(request: Request, error: Exception) -> Response:
        return answer(request, classify(error).status, describe(error))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DatabaseUnavailable)
    def database_down(request: Request, error: Exception) -> Response:
        log.warning("database unavailable while serving %s %s", request.method, request.url.path[:300])
        return answer(request, 503, UNAVAILABLE, headers={"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    def database_error(request: Request, error: DBAPIError) -> Response:
        if error.connection_invalidated:
            return database_down(request, error)
        raise error


def ack_reason(reason: str) -> str:
    """An alert acknowledgement's reason as typed on a form: refuse what could not be stored whole."""
    return bounded_text(reason, what="the reason", max_length=500)
