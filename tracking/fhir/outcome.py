"""FHIR errors: what /fhir refuses, answered as an OperationOutcome (tracking/web/errors.py answers them)."""

from __future__ import annotations

from typing import Any

from tracking.pathway.fields import INT4_MAX

# The OperationOutcome issue code (http://hl7.org/fhir/issue-type) of each HTTP status /fhir answers.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    422: "invalid",
    429: "throttled",
    503: "transient",
}


class FhirError(Exception):
    """A FHIR request refused: its HTTP status, the issue code, one sentence, and the parameter it names."""

    def __init__(self, status: int, code: str, message: str, *, parameter: str | None = None):
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        super().__init__(message)


def not_found(resource_type: str, resource_id: str) -> FhirError:
    shown = resource_id[:64]
    return FhirError(404, "not-found", f"there is no {resource_type} with id {shown!r}")


def numeric_id(resource_type: str, resource_id: str) -> int:
    """A resource id that is a row id (1-2147483647); anything else is not found."""
    if not (resource_id.isascii() and resource_id.isdigit() and len(resource_id) <= 10):
        raise not_found(resource_type, resource_id)
    number = int(resource_id)
    if not 1 <= number <= INT4_MAX:
        raise not_found(resource_type, resource_id)
    return number


def bad_parameter(parameter: str, message: str, *, code: str = "invalid") -> FhirError:
    """A search parameter refused (400): `message` says what is wrong with it and starts with its name."""
    return FhirError(400, code, message, parameter=parameter)


def operation_outcome(status: int, message: str, *, code: str | None = None, parameter: str | None = None) -> dict:
    """An OperationOutcome with one error issue; `parameter` (a search parameter's name) as its expression."""
    issue: dict[str, Any] = {"severity": "error", "code": code or ISSUE_CODES.get(status, "processing")}
    issue["diagnostics"] = message
    if parameter:
        issue["expression"] = [parameter[:100]]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
