"""FHIR R4 out, read-only, under /fhir: `GET /fhir/metadata`, and for each resource type of
tracking/fhir/resources.py a read (`GET /fhir/<Type>/<id>`) and a search (`GET /fhir/<Type>?...`).

Signed in as for /api (a bearer token or a browser session), every role may read. Answers are
`application/fhir+json`; errors are OperationOutcomes (tracking/web/errors.py). Every read and search
is audited with the ids it showed (case and patient ids, never patient data).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from tracking.audit import audit
from tracking.fhir import codes
from tracking.fhir.bundle import Found, searchset
from tracking.fhir.capability import capability_statement
from tracking.fhir.elements import FhirContext
from tracking.fhir.params import JSON_FORMATS, MAX_COUNT, MAX_OFFSET, SearchParam, check_format, parse_search
from tracking.fhir.resources import RESOURCES
from tracking.users.service import Signed
from tracking.web.deps import NowDep, Reader, SessionDep

router = APIRouter(prefix="/fhir", tags=["fhir"])
ResourceId = Annotated[str, Path(min_length=1, max_length=64, description="The resource's id")]


class FhirJSON(JSONResponse):
    media_type = codes.MEDIA_TYPE


def _content(description: str) -> dict[str, Any]:
    return {"description": description, "content": {codes.MEDIA_TYPE: {"schema": {"type": "object"}}}}


ERRORS = {
    401: _content("Not signed in: OperationOutcome"),
    403: _content("Role may not read: OperationOutcome"),
    405: _content("Only GET: OperationOutcome"),
}
SEARCH_ERRORS = {
    200: _content("A searchset Bundle"),
    **ERRORS,
    400: _content("A search parameter refused: OperationOutcome naming it"),
}
READ_ERRORS = {
    **ERRORS,
    400: _content("A _format other than JSON"),
    404: _content("No such resource: OperationOutcome"),
}
VALUE_PATTERNS = {  # what the OpenAPI schema says each kind of parameter takes
    "reference": r"^([A-Za-z]+/)?[0-9]+$",
    "date": r"^(eq|gt|lt|ge|le)?[0-9]{4}(-[0-9]{2}(-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$",
}
FORMAT = {"name": "_format", "in": "query", "required": False, "description": "JSON only",
          "schema": {"type": "string", "enum": sorted(JSON_FORMATS)}}  # fmt: skip
PAGING = [
    {"name": "_count", "in": "query", "required": False, "description": f"Page size (at most {MAX_COUNT})",
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}},
    {"name": "_offset", "in": "query", "required": False, "description": "Matches to skip (the next link's)",
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
    {"name": "_total", "in": "query", "required": False, "description": "none: do not count the matches",
     "schema": {"type": "string", "enum": ["none", "estimate", "accurate"]}},
]  # fmt: skip


def _parameter(param: SearchParam) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 300}
    if param.type in VALUE_PATTERNS:
        schema["pattern"] = VALUE_PATTERNS[param.type]
    return {"name": param.name, "in": "query", "required": False, "description": param.documentation,
            "schema": schema}  # fmt: skip


def _audit(session: Any, signed: Signed, now: datetime, action: str, resource_type: str, found: Found, **more) -> None:
    audit(session, actor=signed.user.username, action=action, at=now,
          case_id=found.case_ids[0] if action == "fhir.read" and len(found.case_ids) == 1 else None,
          type=resource_type, count=len(found.resources), case_ids=found.case_ids, patient_ids=found.patient_ids,
          **more)  # fmt: skip


@router.get("/metadata", response_class=FhirJSON, summary="CapabilityStatement",
            responses={**ERRORS, 400: _content("A _format other than JSON")},
            openapi_extra={"parameters": [FORMAT]})  # fmt: skip
def fhir_metadata(request: Request, signed: Reader) -> FhirJSON:
    """What this FHIR server reads and searches (FHIR 4.0.1, JSON)."""
    check_format(request.query_params.getlist("_format"))
    return FhirJSON(capability_statement(FhirContext.from_settings()))


def _read_route(module: ModuleType) -> Callable[..., FhirJSON]:
    def read(resource_id: ResourceId, request: Request, session: SessionDep, now: NowDep, signed: Reader) -> FhirJSON:
        check_format(request.query_params.getlist("_format"))
        found = module.read(session, resource_id, FhirContext.from_settings())
        _audit(session, signed, now, "fhir.read", module.TYPE, found)
        return FhirJSON(found.resources[0])

    read.__doc__ = f"Read one {module.TYPE}."
    return read


def _search_route(module: ModuleType) -> Callable[..., FhirJSON]:
    def search(request: Request, session: SessionDep, now: NowDep, signed: Reader) -> FhirJSON:
        context = FhirContext.from_settings()
        wanted = parse_search(module.TYPE, request.query_params.multi_items(), module.SEARCH, base=context.base)
        found = module.search(session, wanted, context)
        _audit(session, signed, now, "fhir.searched", module.TYPE, found, parameters=wanted.names)
        return FhirJSON(searchset(context, wanted, found))

    search.__doc__ = f"Search {module.TYPE} resources: a searchset Bundle with total and paging links."
    return search


for _module in RESOURCES.values():
    router.add_api_route(
        f"/{_module.TYPE}", _search_route(_module), methods=["GET"], response_class=FhirJSON,
        name=f"fhir_search_{_module.TYPE}", summary=f"Search {_module.TYPE}", responses=SEARCH_ERRORS,
        openapi_extra={"parameters": [*(_parameter(param) for param in _module.SEARCH.values()), *PAGING, FORMAT]},
    )  # fmt: skip
    router.add_api_route(
        f"/{_module.TYPE}/{{resource_id}}", _read_route(_module), methods=["GET"], response_class=FhirJSON,
        name=f"fhir_read_{_module.TYPE}", summary=f"Read a {_module.TYPE}", responses=READ_ERRORS,
        openapi_extra={"parameters": [FORMAT]},
    )  # fmt: skip
