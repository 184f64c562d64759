"""The HL7 message log page (navigators, ops, admins): every message the RIS sent, newest first, with
its outcome and the case it led to. Filters: outcome, type, sender, received from / to (days on the
centre's clock); paged. A filter value that cannot be used is named above the list and ignored.

No message content is shown (it is PHI and the case page shows what was applied): ids, codes,
the sender, the outcome and its detail only. Each view is audited with the case ids it showed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from math import ceil
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import QueryParams

from tracking.cases.errors import InvalidInput
from tracking.cases.queries import COUNT_CAP
from tracking.centre_time import typed_moment
from tracking.hl7.interpretation import MessageOutcome
from tracking.hl7.log import LogFilters, is_message_type, is_sender, list_messages
from tracking.users.roles import HL7_MESSAGES
from tracking.web.deps import NowDep, SessionDep, require
from tracking.web.templating import page
from tracking.web.worklist_filters import _page, last_value, shown

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
OUTCOMES = {
    "applied": "Applied to a case",
    "queued": "Queued for review",
    "ignored": "Ignored (not tracked)",
    "rejected": "Rejected",
}
OUTCOME_BADGES = {"applied": "later", "queued": "soon", "ignored": "", "rejected": "late"}


@dataclass
class LogQuery:
    filters: LogFilters
    chosen: dict[str, str]
    page: int
    messages: list[str] = field(default_factory=list)


def _day(value: str, what: str, messages: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        messages.append(f"{what} '{shown(value)}' is not a date (write it as 2026-12-03); ignored.")
        return None


def _start_of(day: date, what: str, messages: list[str]) -> datetime | None:
    try:
        return typed_moment(day.isoformat(), what=what, default_time=time(0, 0))
    except InvalidInput as problem:
        messages.append(f"{problem}; ignored.")
        return None


def read_query(params: QueryParams) -> LogQuery:
    messages: list[str] = []
    chosen = dict.fromkeys(("outcome", "type", "sender", "from", "to"), "")
    outcome = last_value(params, "outcome").lower()
    if outcome and outcome not in OUTCOMES:
        messages.append(f"No outcome called '{shown(outcome)}'; showing every outcome.")
        outcome = ""
    chosen["outcome"] = outcome
    message_type = last_value(params, "type").upper()
    if message_type and not is_message_type(message_type):
        messages.append(f"'{shown(message_type)}' is not a message type such as ORU or ORU^R01; showing every type.")
        message_type = ""
    chosen["type"] = message_type
    sender = last_value(params, "sender")
    if not is_sender(sender):
        messages.append(f"The sender '{shown(sender)}' cannot be a sender's name; showing every sender.")
        sender = ""
    chosen["sender"] = sender
    first = _day(last_value(params, "from"), "From", messages)
    last = _day(last_value(params, "to"), "To", messages)
    if first and last and last < first:
        messages.append(f"To ({last}) is before From ({first}); showing messages from {first} on.")
        last = None
    chosen["from"], chosen["to"] = (str(first) if first else ""), (str(last) if last else "")
    filters = LogFilters(
        outcome=MessageOutcome(outcome) if outcome else None,
        message_type=message_type or None,
        sender=sender or None,
        since=_start_of(first, "From", messages) if first else None,
        until=_start_of(last + timedelta(days=1), "To", messages) if last else None,
    )
    number = _page(last_value(params, "page"), messages)
    if number < 1:
        messages.append(f"There is no page {number}; showing page 1.")
        number = 1
    return LogQuery(filters, chosen, number, messages)


def page_url(chosen: dict[str, str], number: int) -> str:
    return "/hl7/messages?" + urlencode({**{key: value for key, value in chosen.items() if value}, "page": number})


@router.get("/hl7/messages")
def hl7_messages_page(request: Request, session: SessionDep, now: NowDep, signed=Depends(require(*HL7_MESSAGES))):
    query = read_query(request.query_params)
    rows, total = list_messages(session, now, actor=signed.user.username, filters=query.filters,
                                offset=(query.page - 1) * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
    pages = max(1, ceil(min(total, COUNT_CAP) / PAGE_SIZE))
    if query.page > pages and total:
        query.messages.append(f"There is no page {query.page}; showing page {pages}, the last.")
        query.page = pages
        rows, total = list_messages(session, now, actor=signed.user.username, filters=query.filters,
                                    offset=(pages - 1) * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
    session.commit()  # the audit row of this view
    return page(
        request,
        "hl7_messages.html",
        nav="hl7",
        rows=rows,
        total=total,
        count_cap=COUNT_CAP,
        page=query.page,
        pages=pages,
        previous_url=page_url(query.chosen, query.page - 1) if query.page > 1 else None,
        next_url=page_url(query.chosen, query.page + 1) if query.page < pages else None,
        filters=query.chosen,
        outcomes=OUTCOMES,
        badges=OUTCOME_BADGES,
        messages=query.messages,
    )
