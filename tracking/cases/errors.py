"""Errors the services raise. Each carries one clear sentence for the person who caused it."""

from __future__ import annotations

from dataclasses import dataclass

from tracking.pathway.decision import Refusal


class WorkupError(Exception):
    """Base: the request was refused and nothing was written."""

    exit_code = 1


class NotFound(WorkupError):
    exit_code = 3


class InvalidInput(WorkupError):
    exit_code = 2


class GuardRefused(WorkupError):
    """The pathway refused the event; `refusal.guard` names the safety guard when one applies."""

    exit_code = 4

    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(str(refusal))


class VersionConflict(WorkupError):
    """Someone changed the case since the caller read it."""

    exit_code = 5


class PrefectUnavailable(WorkupError):
    """The Prefect API could not be reached, refused the request, or a local Prefect server did not start."""

    exit_code = 7


class PathwayChanged(WorkupError):
    """A pathway version that cases use was edited in place; the message says how to fix it."""

    exit_code = 6


class LetterTemplateError(WorkupError):
    """A letter template (config/letters) is missing or broken; the message names the file and line."""

    exit_code = 6


class ReportConfigError(WorkupError):
    """A report's configuration (config/reports) is missing or wrong; the message names the file and key."""

    exit_code = 6


class IdempotencyKeyReused(WorkupError):
    """The idempotency key first came with a different request; the message names the key (exit 2, HTTP 422)."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None):
        self.key = key
        super().__init__(message)


# --- one error table for the web, the API and the CLI ---------------------------------------------


@dataclass(frozen=True)
class ErrorKind:
    """How one class of error is answered: HTTP status, CLI exit code, and a title for pages."""

    status: int
    exit_code: int
    title: str


def _error_table() -> list[tuple[type[BaseException], ErrorKind]]:
    """Most specific first: `classify` takes the first row whose class matches."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    from tracking.db import DatabaseUnavailable

    return [
        (NotFound, ErrorKind(404, 3, "Not found")),
        (GuardRefused, ErrorKind(422, 4, "Refused by the pathway")),
        (VersionConflict, ErrorKind(409, 5, "Changed since you read it")),
        (IdempotencyKeyReused, ErrorKind(422, 2, "Idempotency key already used")),
        (InvalidInput, ErrorKind(422, 2, "Invalid input")),
        (PathwayChanged, ErrorKind(409, 6, "Pathway file changed in place")),
        (LetterTemplateError, ErrorKind(500, 6, "Letter template error")),
        (ReportConfigError, ErrorKind(500, 6, "Report configuration error")),
        (ValidationError, ErrorKind(422, 2, "Invalid input")),
        (IntegrityError, ErrorKind(409, 6, "Refused by the database")),
        (DataError, ErrorKind(422, 2, "Invalid input")),  # a value the database cannot hold
        (OperationalError, ErrorKind(503, 7, "Unavailable")),
        (DatabaseUnavailable, ErrorKind(503, 7, "Unavailable")),
        (PrefectUnavailable, ErrorKind(503, 7, "Unavailable")),
        (WorkupError, ErrorKind(422, 2, "Refused")),
        (OverflowError, ErrorKind(422, 2, "Invalid input")),  # a date or number past what Python can hold
    ]


ERROR_TABLE: list[tuple[type[BaseException], ErrorKind]] = []


def classify(error: BaseException) -> ErrorKind | None:
    """The row of the error table for `error`, or None for an error nobody expected (a bug)."""
    if not ERROR_TABLE:
        ERROR_TABLE.extend(_error_table())
    for cls, kind in ERROR_TABLE:
        if isinstance(error, cls):
            return kind
    return None


def describe(error: BaseException) -> str:
    """One line for the person who caused `error`: never patient data, never SQL or driver text."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError

    from tracking.db import DatabaseUnavailable

    if isinstance(error, WorkupError):  # a guard refusal starts with its guard: "G1: ..."
        return str(error)
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors(include_input=False, include_url=False):
            place = ".".join(str(part) for part in item["loc"]) or "input"
            parts.append(f"{place}: {item['msg']}")
        return "invalid input: " + "; ".join(parts)
    if isinstance(error, IntegrityError):
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        return f"refused by the database ({constraint or 'constraint'}); nothing was saved"
    if isinstance(error, DataError):
        return "a value is out of range or cannot be stored; nothing was saved"
    if isinstance(error, OperationalError | DatabaseUnavailable):
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        return f"database unavailable: {reason[0] if reason else 'no connection'}"
    if isinstance(error, OverflowError):
        return "a date or number is out of range; nothing was saved"
    return f"unexpected {type(error).__name__}; nothing was saved"
