"""The navigator's patient worklist: one row per open or lost case, most urgent first.

One SQL statement builds the page: the matching cases are ordered by the due times each case row
keeps (triggers, migration 0009), and for the page's rows only, lateral joins pick the next open
step, next open task, highest unresolved alert and last contact attempt; a second statement counts
the matching cases, up to COUNT_CAP + 1. Urgency: cases with an overdue step and BI-RADS 4A-5
first, then other cases with an overdue step (most overdue first), then everything else by its next
due time (nothing due last), ties by case id. The step list of `workup worklist` and the API
stays in tracking/cases/queries.py.

The order is read, not sorted: urgency splits the cases into five buckets (_BUCKETS), each read in
its own order through its own partial index on the case row (migration 0017) and only as far as the
page needs: a page's cost follows the page, not the number of open cases (bench/RESULTS.md has it at
100k and 1M). A search first looks up the cases it names (_searched)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from math import ceil
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session

from tracking.cases.queries import COUNT_CAP, lateness_bounds
from tracking.cases.windows import WINDOW_FIELDS, window_fields
from tracking.centre_time import centre_zone, local
from tracking.pathway.definition import Pathway, find_pathway

SUSPICIOUS_BIRADS = ("4A", "4B", "4C", "5")
UNASSIGNED = "(unassigned)"  # the navigator filter's value for cases nobody is assigned to
MAX_PAGE = 100_000  # past the counted cap, pages go on up to here


@dataclass(frozen=True)
class PatientFilters:
    """What the worklist is narrowed to; every field None or empty means "any"."""

    search: str | None = None  # a name part, "Family, Given", an MRN or its start, an accession number
    step_kind: str | None = None  # cases with an open step of this kind
    navigator: str | None = None  # a username, or UNASSIGNED
    facility_id: int | None = None  # cases with a prior-film request to this facility
    lateness: str | None = None  # one of LATENESS
    birads: tuple[str, ...] = ()  # any of these categories
    status: str | None = None  # open | lost_to_follow_up
    alert: str | None = None  # "unacknowledged" (an open alert) | "any" (an unresolved alert)
    task: str | None = None  # "due" (an open task due by the end of today) | "open" (any open task)
    needs_action: bool = True  # overdue, due within due_within_days, an unresolved alert or an open task
    due_within_days: int = 30


@dataclass(frozen=True)
class CaseRow:
    """One case on the worklist, as of `now`."""

    case_id: int
    family_name: str
    given_name: str
    mrn: str
    birth_date: date
    birads: str
    finding_type: str
    pathway_name: str
    pathway_version: int
    case_status: str
    step_kind: str | None  # the next open step (pending or scheduled), by due time
    step_laterality: str | None
    step_due_at: datetime | None
    step_target_at: datetime | None
    booked_at: datetime | None  # the next step's booking (scheduled_at)
    task_title: str | None  # the next open navigator task, by due time
    task_due_at: datetime | None
    open_tasks: int
    alert_level: int | None  # the highest unresolved alert on the case
    alert_acknowledged: bool
    snoozed_until: datetime | None  # when that alert's snooze ends, while it is snoozed
    last_contact_at: datetime | None
    last_contact_outcome: str | None
    navigator: str | None
    navigator_name: str | None
    now: datetime = field(repr=False)

    @property
    def patient_name(self) -> str:
        return f"{self.family_name}, {self.given_name}"

    @property
    def age(self) -> int:
        today = (local(self.now) or self.now).date()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def overdue_since(self) -> datetime | None:
        """The due time of the earliest overdue open step (the case's worst lateness)."""
        return self.step_due_at if self.step_due_at is not None and self.step_due_at < self.now else None

    @property
    def days_overdue(self) -> int:
        return (self.now - self.overdue_since).days if self.overdue_since else 0

    @property
    def next_is_task(self) -> bool:
        """Whether the next action is a navigator task (due before the next step, or no step open)."""
        if self.task_due_at is None:
            return False
        return self.step_due_at is None or self.task_due_at < self.step_due_at

    @property
    def next_due_at(self) -> datetime | None:
        return self.task_due_at if self.next_is_task else self.step_due_at

    @property
    def snoozed(self) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > self.now

    @cached_property
    def _pathway(self) -> Pathway | None:  # read once per row: find_pathway looks through the folder
        try:
            return find_pathway(self.pathway_name, self.pathway_version)
        except LookupError:
            return None

    @property
    def pathway_title(self) -> str:
        return self._pathway.title if self._pathway else self.pathway_name.replace("_", " ")

    @property
    def step_title(self) -> str | None:
        """The next step's title from the case's own pathway version (its words when the file is gone)."""
        if self.step_kind is None:
            return None
        rule = self._pathway.steps.get(self.step_kind) if self._pathway else None
        return rule.title if rule else self.step_kind.replace("_", " ")

    def as_dict(self) -> dict[str, Any]:
        """The row as the CSV export writes it (patient name and MRN included: PHI)."""
        step = self.step_title
        return {
            "case_id": self.case_id,
            "patient": self.patient_name,
            "mrn": self.mrn,
            "age": self.age,
            "birads": self.birads,
            "finding_type": self.finding_type,
            "pathway": self.pathway_name,
            "case_status": self.case_status,
            "next_action": self.task_title if self.next_is_task else step,
            "next_due_at": self.next_due_at,
            "next_step": step,
            "next_step_due_at": self.step_due_at,
            **self.step_window_fields,
            "booked_for": self.booked_at,
            "days_overdue": self.days_overdue,
            "alert_level": self.alert_level,
            "alert_acknowledged": self.alert_acknowledged if self.alert_level else None,
            "snoozed_until": self.snoozed_until if self.snoozed else None,
            "last_contact_at": self.last_contact_at,
            "last_contact_outcome": self.last_contact_outcome,
            "navigator": self.navigator,
            "open_tasks": self.open_tasks,
        }

    @property
    def step_window_fields(self) -> dict[str, Any]:
        """The next step's target and window (tracking/cases/windows.py); None each without one."""
        if self.step_due_at is None:
            return dict.fromkeys(WINDOW_FIELDS)
        return window_fields(Due(self.step_due_at, self.step_target_at))


@dataclass(frozen=True)
class Due:
    """A step's due and target moments, for its window."""

    due_at: datetime
    target_at: datetime | None


@dataclass(frozen=True)
class WorklistPage:
    rows: list[CaseRow]
    total: int  # counted up to COUNT_CAP + 1
    page: int  # the page shown, after clamping
    pages: int  # known pages (the last one when total <= COUNT_CAP)
    page_size: int

    @property
    def capped(self) -> bool:
        return self.total > COUNT_CAP


# The ordering keys come from the case row itself: `next_step_due_at` and `next_task_due_at` are
# kept by triggers (migration 0009), so matching and ordering never visit every case's steps; the
# details (which step, which task, the alert, the last contact) are joined for the page's rows only.
OPEN = "c.status IN ('open', 'lost_to_follow_up')"
NEXT_DUE = "least(c.next_step_due_at, c.next_task_due_at)"
# Written as literals, not bound: the partial index of bucket 0 is chosen only for a predicate it implies.
SUSPICIOUS = ", ".join(f"'{birads}'" for birads in SUSPICIOUS_BIRADS)

# The urgency buckets in page order, as (urgency, overdue_since, which cases, their order). Together
# they are every open or lost case once; each bucket's order is the worklist's order within it.
_BUCKETS = (
    # 0: an overdue step and BI-RADS 4A-5, most overdue first (ix_cases_worklist_suspicious)
    ("0", "c.next_step_due_at", f"c.next_step_due_at < :now AND c.birads IN ({SUSPICIOUS})",
     f"c.next_step_due_at, {NEXT_DUE}, c.id"),
    # 1: any other case with an overdue step (ix_cases_worklist_overdue)
    ("1", "c.next_step_due_at", f"c.next_step_due_at < :now AND c.birads NOT IN ({SUSPICIOUS})",
     f"c.next_step_due_at, {NEXT_DUE}, c.id"),
    # 2, by next due time: first a task overdue while no step is (ix_cases_worklist_task_due), ...
    ("2", "CAST(NULL AS timestamptz)",
     "c.next_task_due_at < :now AND (c.next_step_due_at >= :now OR c.next_step_due_at IS NULL)", f"{NEXT_DUE}, c.id"),
    # ... then whatever falls due from now on (ix_cases_worklist_next_due), ...
    ("2", "CAST(NULL AS timestamptz)", f"{NEXT_DUE} >= :now", f"{NEXT_DUE}, c.id"),
    # ... and last the cases with nothing due (ix_cases_worklist_nothing_due).
    ("2", "CAST(NULL AS timestamptz)", "c.next_step_due_at IS NULL AND c.next_task_due_at IS NULL", "c.id"),
)  # fmt: skip

# Each bucket gives its first :reach cases (offset + page size); the page is cut from their union.
_BRANCH = (
    "(SELECT c.id AS case_id, {urgency} AS urgency, {since} AS overdue_since, " + NEXT_DUE + " AS next_due "
    "FROM cases c WHERE " + OPEN + " AND {bucket} {conditions} ORDER BY {order} LIMIT :reach)"
)


def _matching(filters: PatientFilters, conditions: str) -> str:
    """The union of the buckets the filters leave. A lateness filter leaves fewer: an overdue bucket
    (a due time before now) only cases with an overdue step, "due within 7 days" only cases whose next
    due time is from now on; the others cannot match, and reading them would walk their whole index."""
    buckets = _BUCKETS
    if filters.lateness == "due_7":
        buckets = _BUCKETS[3:4]
    elif filters.lateness:
        buckets = _BUCKETS[:2]
    return " UNION ALL ".join(
        _BRANCH.format(urgency=urgency, since=since, bucket=bucket, order=order, conditions=conditions)
        for urgency, since, bucket, order in buckets
    )


NO_JIT = text("SET LOCAL jit = off")

_ORDER = "urgency, overdue_since NULLS LAST, next_due NULLS LAST, case_id"

_PAGE = f"""
WITH shown AS (SELECT * FROM ({{matching}}) matching ORDER BY {_ORDER} OFFSET :offset LIMIT :limit)
SELECT shown.urgency, shown.overdue_since, shown.next_due,
       c.id AS case_id, c.status AS case_status, c.birads, c.finding_type, c.pathway_name, c.pathway_version,
       p.family_name, p.given_name, p.mrn, p.birth_date,
       u.username AS navigator, u.display_name AS navigator_name,
       nxt.kind AS step_kind, nxt.laterality AS step_laterality, nxt.due_at AS step_due_at,
       nxt.target_at AS step_target_at, nxt.scheduled_at AS booked_at,
       task.title AS task_title, task.due_at AS task_due_at, coalesce(task.open_tasks, 0) AS open_tasks,
       alert.level AS alert_level, alert.status AS alert_status, alert.snoozed_until,
       contact.occurred_at AS last_contact_at, contact.outcome AS last_contact_outcome
FROM shown
JOIN cases c ON c.id = shown.case_id
JOIN patients p ON p.id = c.patient_id
LEFT JOIN users u ON u.id = c.navigator_id
LEFT JOIN LATERAL (
  SELECT s.kind, s.laterality, s.due_at, s.target_at, s.scheduled_at FROM steps s
  WHERE s.case_id = c.id AND s.status IN ('pending', 'scheduled') ORDER BY s.due_at, s.id LIMIT 1
) nxt ON true
LEFT JOIN LATERAL (
  SELECT t.title, t.due_at, count(*) OVER () AS open_tasks FROM navigator_tasks t
  WHERE t.case_id = c.id AND t.status = 'open' ORDER BY t.due_at, t.id LIMIT 1
) task ON true
LEFT JOIN LATERAL (
  SELECT a.level, a.status, a.snoozed_until FROM alerts a
  WHERE a.case_id = c.id AND a.status <> 'resolved' ORDER BY a.level DESC, (a.status = 'open') DESC, a.id LIMIT 1
) alert ON true
LEFT JOIN LATERAL (
  SELECT e.occurred_at, e.payload->>'outcome' AS outcome FROM case_events e
  WHERE e.case_id = c.id AND e.kind = 'contact_attempt' ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1
) contact ON true
ORDER BY {_ORDER}
"""

_COUNT = f"""
SELECT count(*) FROM (SELECT 1 FROM cases c WHERE {OPEN} {{conditions}} LIMIT :cap) matching
"""

# A search names cases by a part of the patient's name ("Family, Given"), the start of the MRN, or an
# accession number exactly. The name part is matched with LIKE, its wildcards escaped (the same as
# strpos() > 0), so the trigram index is used where pg_trgm is installed (migration 0017); the MRN
# start through ix_patients_mrn_prefix; accession numbers through ix_steps_accession_number.
_NAME_OR_MRN = r"""(lower(p.family_name || ', ' || p.given_name)
        LIKE '%' || replace(replace(replace(lower(:search), '\', '\\'), '%', '\%'), '_', '\_') || '%'
     OR starts_with(upper(p.mrn), upper(:search)))"""
_ACCESSION = "SELECT sa.case_id FROM steps sa WHERE sa.accession_number = :search"
# First the cases it names: those of its first FOUND_MOST + 1 patients, and those by accession number
# (any status: the filters apply after). A search that names no more than FOUND_MOST cases, every one
# of them found, is then the list of their ids, read through the primary key. One that names more (a
# name part most patients share) is tested case by case as the buckets are read: a semi-join the
# planner can drive from either side, by the statistics of the names.
FOUND_MOST = 2_000
_FOUND = text(
    f"SELECT fc.id FROM cases fc WHERE fc.patient_id IN (SELECT p.id FROM patients p WHERE {_NAME_OR_MRN} "
    f"LIMIT :most) UNION ALL {_ACCESSION}"
)
_BY_ACCESSION = text(_ACCESSION)


def _searched(session: Session, search: str) -> tuple[str, dict[str, Any]]:
    """The condition (and its values) for the cases `search` names."""
    found = session.execute(_FOUND, {"search": search, "most": FOUND_MOST + 1}).scalars().all()
    if len(found) <= FOUND_MOST:
        return "c.id = ANY(CAST(:found AS int[]))", {"found": list(found)}
    by_patient = f"c.patient_id IN (SELECT p.id FROM patients p WHERE {_NAME_OR_MRN})"
    accession = session.execute(_BY_ACCESSION, {"search": search}).scalars().all()
    if not accession:
        return by_patient, {"search": search}
    return f"({by_patient} OR c.id = ANY(CAST(:accession AS int[])))", {"search": search, "accession": accession}


def _conditions(session: Session, filters: PatientFilters, now: datetime) -> tuple[str, dict[str, Any]]:
    """The WHERE fragments on the case, its patient and navigator, and their values.

    Every value is a bound parameter; the fragments are fixed text chosen by which filters are set.
    """
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.search:
        searched, values = _searched(session, filters.search)
        conditions.append(searched)
        params |= values
    if filters.step_kind:
        params["step_kind"] = filters.step_kind
        conditions.append("EXISTS (SELECT 1 FROM steps sk WHERE sk.case_id = c.id AND sk.kind = :step_kind"
                          " AND sk.status IN ('pending', 'scheduled'))")  # fmt: skip
    if filters.navigator == UNASSIGNED:
        conditions.append("c.navigator_id IS NULL")
    elif filters.navigator:
        params["navigator"] = filters.navigator
        conditions.append("c.navigator_id IN (SELECT u.id FROM users u WHERE u.username = :navigator)")
    if filters.facility_id is not None:
        params["facility_id"] = filters.facility_id
        conditions.append("EXISTS (SELECT 1 FROM prior_film_requests pf WHERE pf.case_id = c.id"
                          " AND pf.facility_id = :facility_id)")  # fmt: skip
    if filters.birads:
        params["birads"] = list(filters.birads)
        conditions.append("c.birads IN :birads")
    if filters.status:
        params["status"] = filters.status
        conditions.append("c.status = :status")
    if filters.alert:
        params["alert_statuses"] = ["open"] if filters.alert == "unacknowledged" else ["open", "acknowledged"]
        conditions.append("EXISTS (SELECT 1 FROM alerts aa WHERE aa.case_id = c.id AND aa.status IN :alert_statuses)")
    if filters.task == "due":
        params["task_due_by"] = end_of_today(now)
        conditions.append("c.next_task_due_at < :task_due_by")
    elif filters.task:
        conditions.append("c.next_task_due_at IS NOT NULL")
    if filters.lateness:
        low, high = lateness_bounds(filters.lateness, now)
        # due within 7 days: the next thing due (step or task); overdue buckets: the earliest overdue step
        column = "least(c.next_step_due_at, c.next_task_due_at)" if filters.lateness == "due_7" else (
            "c.next_step_due_at")  # fmt: skip
        params |= {"late_low": low, "late_high": high}
        if low is not None:
            conditions.append(f"{column} >= :late_low")
        conditions.append(f"{column} < :late_high")
    if filters.needs_action:
        params["horizon"] = now + timedelta(days=filters.due_within_days)
        conditions.append(
            "(least(c.next_step_due_at, c.next_task_due_at) < :horizon OR c.next_task_due_at IS NOT NULL"
            " OR EXISTS (SELECT 1 FROM alerts an WHERE an.case_id = c.id AND an.status <> 'resolved'))"
        )
    return "".join(f" AND {item}" for item in conditions), params


def end_of_today(now: datetime) -> datetime:
    """Midnight at the end of `now`'s day on the centre's clock."""
    today = (local(now) or now).date()
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=centre_zone())


def _statement(session: Session, template: str, filters: PatientFilters, now: datetime) -> tuple[Any, dict[str, Any]]:
    conditions, params = _conditions(session, filters, now)
    statement = text(template.format(conditions=conditions, matching=_matching(filters, conditions)))
    for name, wanted in (("birads", filters.birads), ("alert_statuses", filters.alert)):
        if wanted:
            statement = statement.bindparams(bindparam(name, expanding=True))
    return statement, params | {"now": now}


def count_cases(session: Session, now: datetime, filters: PatientFilters) -> int:
    """How many cases match, counted up to COUNT_CAP + 1."""
    statement, params = _statement(session, _COUNT, filters, now)
    return int(session.execute(statement, params | {"cap": COUNT_CAP + 1}).scalar_one())


def case_rows(session: Session, now: datetime, filters: PatientFilters, *, offset: int, limit: int) -> list[CaseRow]:
    """One page of matching cases, most urgent first."""
    statement, params = _statement(session, _PAGE, filters, now)
    found = session.execute(statement, params | {"offset": offset, "limit": limit, "reach": offset + limit})
    return [_row(values, now) for values in found.mappings()]


def _row(values: Any, now: datetime) -> CaseRow:
    return CaseRow(
        case_id=values["case_id"],
        family_name=values["family_name"],
        given_name=values["given_name"],
        mrn=values["mrn"],
        birth_date=values["birth_date"],
        birads=values["birads"],
        finding_type=values["finding_type"],
        pathway_name=values["pathway_name"],
        pathway_version=values["pathway_version"],
        case_status=values["case_status"],
        step_kind=values["step_kind"],
        step_laterality=values["step_laterality"],
        step_due_at=values["step_due_at"],
        step_target_at=values["step_target_at"],
        booked_at=values["booked_at"],
        task_title=values["task_title"],
        task_due_at=values["task_due_at"],
        open_tasks=values["open_tasks"],
        alert_level=values["alert_level"],
        alert_acknowledged=values["alert_status"] == "acknowledged",
        snoozed_until=values["snoozed_until"],
        last_contact_at=values["last_contact_at"],
        last_contact_outcome=values["last_contact_outcome"],
        navigator=values["navigator"],
        navigator_name=values["navigator_name"],
        now=now,
    )


def worklist_page(
    session: Session, now: datetime, filters: PatientFilters, *, page: int, page_size: int
) -> WorklistPage:
    """The page asked for (clamped to 1..the last page), its rows and the capped count.

    JIT compilation is off for the rest of the caller's transaction: at 1M cases the count's
    estimate passes jit_above_cost, and compiling took longer than counting (as in the sweep, ADR 6).
    """
    session.execute(NO_JIT)
    total = count_cases(session, now, filters)
    pages = max(1, ceil(total / page_size)) if total <= COUNT_CAP else MAX_PAGE
    page = min(max(page, 1), pages)
    rows = case_rows(session, now, filters, offset=(page - 1) * page_size, limit=page_size)
    return WorklistPage(rows, total, page, pages, page_size)
