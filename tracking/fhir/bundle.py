"""One page of a search in one query (and one more to count the matches when they run past it), and its
searchset Bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracking.fhir.elements import FhirContext
from tracking.fhir.outcome import not_found
from tracking.fhir.params import SearchRequest


@dataclass
class Page:
    rows: list[Any]
    total: int | None  # None when the search asked `_total=none`
    more: bool  # rows past this page


@dataclass
class Found:
    """What a read or a search found: the resources, and the ids the audit row records (never PHI)."""

    resources: list[dict[str, Any]]
    total: int | None = None
    more: bool = False
    case_ids: list[int] = field(default_factory=list)
    patient_ids: list[int] = field(default_factory=list)


def the_row(session: Session, query: Any, resource_type: str, resource_id: str) -> Any:
    """The one row a read's query finds; none is a 404 naming the resource."""
    row = session.execute(query).first()
    if row is None:
        raise not_found(resource_type, resource_id)
    return row


def paged(found: Found, page: Page) -> Found:
    """`found` (a page's resources) with the page's total and whether more follow."""
    found.total, found.more = page.total, page.more
    return found


def fetch_page(session: Session, query: Any, *, order_by: list[Any], request: SearchRequest, count: Any = None) -> Page:
    """The rows of the page `request` asks for, ordered by `order_by` (unique), and the total.

    One statement for the page; a page that holds the last match knows the total without counting.
    Otherwise `count` (a `SELECT count(*)` with only the joins the conditions need; by default the
    query itself, counted) is a second statement: counting alongside the page with a window would
    make every page pay for building every match (1.5 s for an unfiltered Task search at 300k steps).
    """
    rows = []
    if request.count > 0:
        rows = list(session.execute(query.order_by(*order_by).offset(request.offset).limit(request.count + 1)))
    more = len(rows) > request.count
    rows = rows[: request.count]
    if not request.total:
        return Page(rows, None, more)
    if not more and (rows or request.offset == 0) and request.count > 0:
        return Page(rows, request.offset + len(rows), more)
    if count is None:
        count = select(func.count()).select_from(query.order_by(None).subquery())
    return Page(rows, int(session.execute(count).scalar_one()), more)


def searchset(context: FhirContext, request: SearchRequest, found: Found) -> dict[str, Any]:
    """The searchset Bundle: total (unless `_total=none`), self/first/previous/next links, one entry per match."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if found.total is not None:
        bundle["total"] = found.total
    links = [("self", request.offset), ("first", 0)]
    if request.offset > 0 and request.count > 0:
        links.append(("previous", max(0, request.offset - request.count)))
    if found.more:
        links.append(("next", request.offset + request.count))
    bundle["link"] = [{"relation": relation, "url": page_url(context, request, offset)} for relation, offset in links]
    entries = [
        {"fullUrl": context.url(resource["resourceType"], resource["id"]), "resource": resource,
         "search": {"mode": "match"}}
        for resource in found.resources
    ]  # fmt: skip
    if entries:
        bundle["entry"] = entries
    return bundle


def page_url(context: FhirContext, request: SearchRequest, offset: int) -> str:
    pairs = [*request.given, ("_count", str(request.count))]
    if offset:
        pairs.append(("_offset", str(offset)))
    if request.total_given:
        pairs.append(("_total", request.total_given))
    return f"{context.base}/{request.resource_type}?{urlencode(pairs)}"
