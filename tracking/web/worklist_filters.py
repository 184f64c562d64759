"""The worklist's query string read into filters, never into an error page.

Every parameter may be missing, empty, repeated (the last non-empty value counts), too long or
nonsense. Empty means "any". A value that is not one of the filter's choices is ignored and named
in a message shown above the list ("No step called 'xyz'; showing all steps"); `page` is clamped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from sqlmodel import Session, col, select
from starlette.datastructures import QueryParams

from tracking.cases.models import OutsideFacility
from tracking.cases.patient_worklist import UNASSIGNED, PatientFilters
from tracking.cases.queries import LATENESS
from tracking.pathway.definition import all_pathways, all_step_titles
from tracking.users.models import User
from tracking.users.roles import Role

SEARCH_MAX = 100
SHOWN_MAX = 40  # characters of a refused value echoed back in its message
BIRADS_GROUPS = {
    "1-3": ("Benign or probably benign (1-3)", ("1", "2", "3")),
    "4": ("Suspicious (4A, 4B, 4C)", ("4A", "4B", "4C")),
    "4-5": ("Suspicious or highly suggestive (4A-5)", ("4A", "4B", "4C", "5")),
}
STATUSES = {"open": "Open", "lost_to_follow_up": "Lost to follow-up"}
VIEWS = {"action": "Needs action", "all": "All open and lost cases"}
ALERTS = {"unacknowledged": "Unacknowledged alert", "any": "Any unresolved alert"}
TASKS = {"due": "Task due today or overdue", "open": "Any open task"}
YES = {"1", "true", "on", "yes"}
NO = {"0", "false", "off", "no"}
FILTER_NAMES = ("q", "step", "navigator", "facility", "late", "birads", "status", "alert", "task", "view", "mine")


@dataclass(frozen=True)
class WorklistQuery:
    """What the page shows: the filters, the values the form shows as chosen, messages, the page asked for."""

    filters: PatientFilters
    chosen: dict[str, str]  # each filter's accepted value ("" when any), for the form and the links
    mine: bool
    page: int
    messages: list[str] = field(default_factory=list)


def birads_choices() -> dict[str, str]:
    """Every BI-RADS category of every pathway file, then the groups: value -> label."""
    values: list[str] = []
    for pathway in all_pathways():
        values += [value for value in pathway.choices("birads") if value not in values]
    return {value: f"BI-RADS {value}" for value in values} | {key: label for key, (label, _) in BIRADS_GROUPS.items()}


def navigator_choices(session: Session) -> dict[str, str]:
    """Active navigators for the select: username -> display name."""
    query = select(User.username, User.display_name).where(User.role == Role.navigator,
                                                           col(User.disabled_at).is_(None))  # fmt: skip
    return dict(session.exec(query.order_by(User.display_name, User.username)).all())


def facility_choices(session: Session) -> dict[str, str]:
    """The facility directory for the select: id (as text) -> name."""
    return {str(id_): name for id_, name in session.exec(select(OutsideFacility.id, OutsideFacility.name)
                                                         .order_by(OutsideFacility.name))}  # fmt: skip


def shown(value: str) -> str:
    """A typed value as a message may repeat it: control characters out, cut to SHOWN_MAX."""
    clean = "".join(" " if unicodedata.category(char).startswith("C") else char for char in value).strip()
    return clean if len(clean) <= SHOWN_MAX else clean[:SHOWN_MAX] + "…"


def last_value(params: QueryParams, name: str) -> str:
    values = [value.strip() for value in params.getlist(name) if value.strip()]
    return values[-1] if values else ""


def read_query(params: QueryParams, session: Session, *, username: str) -> WorklistQuery:
    messages: list[str] = []
    chosen: dict[str, str] = dict.fromkeys(FILTER_NAMES, "")

    def choice(name: str, known: dict[str, str] | set[str], what: str, any_text: str) -> str | None:
        value = last_value(params, name)
        if not value:
            return None
        if value not in known:
            messages.append(f"No {what} '{shown(value)}'; showing {any_text}.")
            return None
        chosen[name] = value
        return value

    search = _search(last_value(params, "q"), messages)
    chosen["q"] = search or ""
    step = choice("step", all_step_titles(), "step called", "all steps")
    navigator = choice("navigator", _known_usernames(session), "navigator called", "every navigator's cases")
    facility = choice("facility", facility_choices(session), "facility numbered", "cases at any facility")
    late = choice("late", LATENESS, "lateness called", "cases however late")
    birads_value = _birads(last_value(params, "birads"), messages)
    chosen["birads"] = birads_value or ""
    status = choice("status", STATUSES, "case status called", "open and lost cases")
    alert = choice("alert", ALERTS, "alert filter called", "cases with or without alerts")
    task = choice("task", TASKS, "task filter called", "cases with or without tasks")
    view = choice("view", VIEWS, "view called", "the cases that need action") or "action"
    chosen["view"] = view
    mine = _mine(last_value(params, "mine"), messages)
    chosen["mine"] = "1" if mine else ""
    if mine:
        navigator = username
    filters = PatientFilters(
        search=search,
        step_kind=step,
        navigator=navigator,
        facility_id=int(facility) if facility else None,
        lateness=late,
        birads=_birads_values(birads_value),
        status=status,
        alert=alert,
        task=task,
        needs_action=view == "action",
    )
    return WorklistQuery(filters, chosen, mine, _page(last_value(params, "page"), messages), messages)


def _search(value: str, messages: list[str]) -> str | None:
    if not value:
        return None
    if len(value) > SEARCH_MAX:
        messages.append(f"The search '{shown(value)}' is longer than {SEARCH_MAX} characters; showing every patient.")
        return None
    clean = " ".join("".join(" " if unicodedata.category(char).startswith("C") else char for char in value).split())
    if clean != " ".join(value.split()):
        messages.append("The search had characters that cannot be typed (such as control characters); "
                        "they were left out.")  # fmt: skip
    return clean or None


def _known_usernames(session: Session) -> set[str]:
    return set(session.exec(select(User.username)).all()) | {UNASSIGNED}


def _birads(value: str, messages: list[str]) -> str | None:
    """A BI-RADS category or group, any letter case ("4a" is 4A)."""
    if not value:
        return None
    known = birads_choices()
    if value.upper() not in known:
        messages.append(f"No BI-RADS category '{shown(value)}'; showing every category.")
        return None
    return value.upper()


def _birads_values(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    if value in BIRADS_GROUPS:
        return BIRADS_GROUPS[value][1]
    return (value,)


def _mine(value: str, messages: list[str]) -> bool:
    if value.lower() in YES:
        return True
    if value and value.lower() not in NO:
        messages.append(f"'My cases' takes 1 or 0, not '{shown(value)}'; showing everyone's cases.")
    return False


def _page(value: str, messages: list[str]) -> int:
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()):
        messages.append(f"'{shown(value)}' is not a page number; showing page 1.")
        return 1
    return int(value[:12]) if len(value) <= 12 else 10**12  # clamped to the last page by the query
