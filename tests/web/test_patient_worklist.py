"""The patient worklist: one row per case, most urgent first, every filter alone and together, the CSV.

The cases are opened and played through the real services at moments before NOW; the app's clock
is its `get_now` dependency, set to NOW. Accession numbers have no service yet: set with an UPDATE.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import followup_case, missed_then_called_twice, seed_opening
from tracking.alerts.service import acknowledge_alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import open_case
from tracking.cases.patient_worklist import UNASSIGNED, end_of_today
from tracking.cases.queries import LATENESS, lateness_bounds
from tracking.cases.recording import record_event
from tracking.navigation.tasks import add_task
from tracking.pathway.definition import all_step_titles
from tracking.web import routes_worklist
from tracking.web.deps import get_now
from tracking.web.worklist_filters import BIRADS_GROUPS, birads_choices

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ACCESSION = "ACC-424242"


@dataclass(frozen=True)
class Cases:
    urgent: int  # BI-RADS 4B, magnification views 3 days overdue
    stale: int  # BI-RADS 0, 33 days overdue, alert acknowledged and snoozed
    middle: int  # BI-RADS 0, 13 days overdue, alert acknowledged; a call left a message; an accession number
    many: int  # six open steps, nothing overdue; magnification booked; an open task due today
    far: int  # BI-RADS 3: only the 6-month follow-up, months ahead; nothing needs action
    lost: int  # lost to follow-up
    facility_id: int  # where `many` asked for prior films


@pytest.fixture
def clock(app):
    app.dependency_overrides[get_now] = lambda: NOW
    yield NOW
    app.dependency_overrides.pop(get_now, None)


def opened(session: Session, mrn: str, family: str, days_ago: int, **values) -> int:
    opening = seed_opening(mrn=mrn, family_name=family, given_name="Test", **values)
    return open_case(session, opening, actor="test", now=NOW - timedelta(days=days_ago)).case_id


@pytest.fixture
def cases(committed, users, clock, browser_for) -> Cases:
    with Session(committed) as session:
        urgent = opened(session, "WL-URGENT", "Urgentova", 10, birads="4B", facilities=[], density="b")
        stale = opened(session, "WL-STALE", "Stalewood", 40, facilities=[], density="b")
        middle = opened(session, "WL-MIDDLE", "Midland", 20, facilities=[], density="b")
        many = opened(session, "WL-MANY", "Manysteps", 1)  # dense, two facilities: six open steps
        far = followup_case(session, NOW - timedelta(days=2), "WL-FAR")
        lost = followup_case(session, NOW - timedelta(days=230), "WL-LOST")
        missed_then_called_twice(session, lost, NOW - timedelta(days=20))
        record_event(session, lost, "lost_to_follow_up_declared", {"reason": "No answer", "override_reason":
                     "Moved away, no forwarding address"}, actor="test", now=NOW - timedelta(days=10))  # fmt: skip
        record_event(session, many, "appointment_booked", {"step": "magnification_views",
                     "scheduled_for": (NOW + timedelta(days=2)).isoformat()}, actor="test", now=NOW)  # fmt: skip
        record_event(session, middle, "contact_attempt", {"method": "call", "outcome": "left_message"},
                     actor="test", now=NOW - timedelta(days=1))  # fmt: skip
        add_task(session, many, "Call back about the biopsy date", NOW + timedelta(hours=2), actor="test", now=NOW)
        # as the runner would have: every run request made now, so no "outside work stalled" alert is raised
        session.execute(text("UPDATE case_runs SET requested_at = :now, next_attempt_at = :now"), {"now": NOW})
        # ... and the outbox sent the film requests, so none is "still waiting to be sent"
        session.execute(text("UPDATE notifications SET status = 'delivered', delivered_at = created_at"))
        sweep_overdue(session, NOW)
        alerts = {alert.case_id: alert for alert in session.exec(
            text("SELECT id, case_id FROM alerts WHERE status = 'open' AND kind = 'overdue_step'")).all()}  # fmt: skip
        acknowledge_alert(session, alerts[stale].id, actor="test", reason="Booked by phone", now=NOW,
                          snooze_until=NOW + timedelta(days=3))  # fmt: skip
        acknowledge_alert(session, alerts[middle].id, actor="test", reason="Waiting for a call back", now=NOW)
        session.execute(text("UPDATE steps SET accession_number = :number WHERE case_id = :case"),
                        {"number": ACCESSION, "case": middle})  # fmt: skip
        facility_id = session.execute(text("SELECT facility_id FROM prior_film_requests WHERE case_id = :case LIMIT 1"),
                                      {"case": many}).scalar_one()  # fmt: skip
        session.commit()
    admin = browser_for("admin")
    for case_id in (urgent, many):
        assert admin.post_form(f"/cases/{case_id}/assign", {"navigator": users["navigator"]}).status_code == 303
    return Cases(urgent, stale, middle, many, far, lost, facility_id)


def shown_ids(html: str) -> list[int]:
    return [int(case_id) for case_id in re.findall(r'<tr data-case="(\d+)"', html)]


def row_html(html: str, case_id: int) -> str:
    return re.search(rf'<tr data-case="{case_id}">(.*?)</tr>', html, re.S).group(1)


def listed(browser, query: str = "") -> list[int]:
    answer = browser.get(f"/worklist?{query}")
    assert answer.status_code == 200, answer.text[:500]
    return shown_ids(answer.text)


def test_one_row_per_case_most_urgent_first(browser_for, cases):
    html = browser_for("navigator").get("/worklist").text
    ids = shown_ids(html)
    # the BI-RADS 4B case, 3 days overdue, above BI-RADS 0 cases 33 and 13 days overdue; then by next due
    assert ids == [cases.urgent, cases.stale, cases.lost, cases.middle, cases.many]
    assert ids.count(cases.many) == 1  # six open steps, one row
    assert "5 cases need action" in html
    assert cases.far not in ids  # nothing due within 30 days, no alert, no task
    urgent = row_html(html, cases.urgent)
    assert "OVERDUE 3 days" in urgent and f'href="/cases/{cases.urgent}"' in urgent
    assert "Urgentova, Test" in urgent and "WL-URGENT" in urgent and ">58<" in urgent  # born 1968-04-12
    assert "Spot-magnification views" in urgent and "Test navigator" in urgent
    assert "LOST TO FOLLOW-UP" in row_html(html, cases.lost)


def test_acknowledged_snoozed_booked_tasks_and_last_contact_are_in_words(browser_for, cases):
    html = browser_for("navigator").get("/worklist").text
    assert "snoozed until 2026-06-04" in row_html(html, cases.stale)
    middle = row_html(html, cases.middle)
    assert "acknowledged" in middle and "snoozed" not in middle
    assert "2026-05-31: left a message" in middle
    assert "not acknowledged" in row_html(html, cases.urgent)
    many = row_html(html, cases.many)
    assert "booked for 2026-06-03" in many and "1 open task" in many
    assert "TASK</span> Call back about the biopsy date" in many  # due today, before the booked views
    assert "none yet" in many  # no contact attempt


def test_each_filter_alone_narrows_the_list(browser_for, cases, users):
    navigator = browser_for("navigator")
    everyone = {cases.urgent, cases.stale, cases.middle, cases.many, cases.far, cases.lost}
    assert set(listed(navigator, "view=all")) == everyone
    assert listed(navigator, "view=all&step=ultrasound") == [cases.many]
    assert listed(navigator, "view=all&step=followup_6_month") == [cases.lost, cases.far]
    assert set(listed(navigator, f"view=all&navigator={users['navigator']}")) == {cases.urgent, cases.many}
    assert set(listed(navigator, f"view=all&navigator={UNASSIGNED}")) == everyone - {cases.urgent, cases.many}
    assert listed(navigator, f"facility={cases.facility_id}") == [cases.many]
    assert listed(navigator, "late=overdue_1_7") == [cases.urgent]
    assert listed(navigator, "late=overdue_8_30") == [cases.lost, cases.middle]
    assert listed(navigator, "late=overdue_31_plus") == [cases.stale]
    assert listed(navigator, "late=due_7") == [cases.many]
    assert listed(navigator, "birads=4B") == listed(navigator, "birads=4-5") == [cases.urgent]
    assert listed(navigator, "view=all&birads=3") == [cases.lost, cases.far]
    assert listed(navigator, "status=lost_to_follow_up") == [cases.lost]
    assert cases.lost not in listed(navigator, "status=open")
    assert listed(navigator, "alert=unacknowledged") == [cases.urgent, cases.lost]
    assert listed(navigator, "task=due") == [cases.many]
    assert set(listed(navigator, "mine=1")) == {cases.urgent, cases.many}
    assert listed(browser_for("admin"), "mine=1") == []


def test_search_by_mrn_name_and_accession_number(browser_for, cases):
    navigator = browser_for("navigator")
    assert listed(navigator, "q=WL-URGENT") == [cases.urgent]
    assert listed(navigator, "q=wl-urg") == [cases.urgent]  # the start of an MRN, any letter case
    assert listed(navigator, "q=-URGENT") == []  # the middle of an MRN is not a match
    assert listed(navigator, "q=midla") == [cases.middle]  # part of a family name
    assert listed(navigator, "q=Stalewood, Te") == [cases.stale]  # "Family, Given"
    assert listed(navigator, f"q={ACCESSION}") == [cases.middle]
    assert listed(navigator, "q=ACC-4242") == []  # accession numbers match exactly
    assert listed(navigator, "q=WL-FAR") == []  # needs no action ...
    assert listed(navigator, "q=WL-FAR&view=all") == [cases.far]  # ... but is there in all cases


def test_view_all_pages_through_every_case(browser_for, cases, monkeypatch):
    monkeypatch.setattr(routes_worklist, "PAGE_SIZE", 4)
    navigator = browser_for("navigator")
    first = navigator.get("/worklist?view=all").text
    assert "6 open or lost cases" in first and "Page 1 of 2" in first
    next_url = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    second = navigator.get(next_url).text
    assert shown_ids(first) + shown_ids(second) == [cases.urgent, cases.stale, cases.lost, cases.middle,
                                                    cases.many, cases.far]  # fmt: skip
    for page, shown in (("0", 1), ("-3", 1), ("9" * 30, 2), ("two", 1)):
        html = navigator.get(f"/worklist?view=all&page={page}").text
        assert f"Page {shown} of 2" in html, page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("step=xyz", "No step called &#39;xyz&#39;; showing all steps."),
        ("navigator=nobody-here", "No navigator called &#39;nobody-here&#39;"),
        ("facility=abc", "No facility numbered &#39;abc&#39;"),
        ("facility=99999999999999", "No facility numbered &#39;99999999999999&#39;"),
        ("late=someday", "No lateness called &#39;someday&#39;"),
        ("birads=7", "No BI-RADS category &#39;7&#39;"),
        ("status=closed", "No case status called &#39;closed&#39;"),
        ("view=everything", "No view called &#39;everything&#39;"),
        ("mine=maybe", "&#39;My cases&#39; takes 1 or 0, not &#39;maybe&#39;"),
        ("page=abc", "&#39;abc&#39; is not a page number"),
        ("q=" + "x" * 101, "longer than 100 characters"),
        ("q=Mid%00land", "were left out"),
    ],
)
def test_a_value_that_is_no_choice_is_named_and_ignored(browser_for, cases, query, message):
    answer = browser_for("navigator").get(f"/worklist?{query}")
    assert answer.status_code == 200, answer.text[:500]
    assert message in answer.text
    if not query.startswith("q=Mid"):
        assert len(shown_ids(answer.text)) == 5  # ignored: the default list


def test_the_form_as_it_is_sent_and_htmx_get_the_rows(browser_for, cases):
    navigator = browser_for("navigator")
    empty = "q=&view=action&step=&navigator=&facility=&late=&birads=&status=&alert=&task="
    assert listed(navigator, empty) == listed(navigator, "")
    rows = navigator.get(f"/worklist?{empty}&birads=4-5", headers={"HX-Request": "true"})
    assert rows.status_code == 200 and "<h1" not in rows.text and shown_ids(rows.text) == [cases.urgent]
    assert "1 case needs action" in rows.text
    assert listed(navigator, "step=&step=ultrasound") == [cases.many]  # repeated: the last value given counts


def test_csv_is_one_row_per_case_and_for_ops_and_admins_only(browser_for, cases, users, committed):
    for role in ("navigator", "radiologist", "read_only"):
        assert browser_for(role).get("/worklist.csv").status_code == 403
    ops = browser_for("ops")
    page = ops.get("/worklist").text
    assert "contains patient names and MRNs" in page and "protected health information" in page
    exported = list(csv.DictReader(io.StringIO(ops.get("/worklist.csv?view=all").text)))
    assert [int(row["case_id"]) for row in exported] == [cases.urgent, cases.stale, cases.lost, cases.middle,
                                                         cases.many, cases.far]  # fmt: skip
    many = next(row for row in exported if int(row["case_id"]) == cases.many)
    assert many["patient"] == "Manysteps, Test" and many["mrn"] == "WL-MANY" and many["open_tasks"] == "1"
    assert many["next_action"] == "Call back about the biopsy date" and many["booked_for"].startswith("2026-06-03")
    stale = next(row for row in exported if int(row["case_id"]) == cases.stale)
    assert stale["days_overdue"] == "33" and stale["snoozed_until"].startswith("2026-06-04")
    assert [int(row["case_id"]) for row in csv.DictReader(io.StringIO(ops.get("/worklist.csv?birads=4-5").text))] \
        == [cases.urgent]  # fmt: skip
    with committed.connect() as connection:
        detail = connection.execute(text("SELECT detail FROM audit_log WHERE action = 'export.worklist' "
                                         "ORDER BY id DESC LIMIT 1")).scalar_one()  # fmt: skip
    assert detail["case_ids"] == [cases.urgent]


def test_every_view_is_audited_with_the_case_ids_shown(browser_for, cases, users, committed):
    browser_for("navigator").get("/worklist?q=WL-MANY")
    with committed.connect() as connection:
        detail = connection.execute(text("SELECT detail FROM audit_log WHERE action = 'worklist.viewed' "
                                         "ORDER BY id DESC LIMIT 1")).scalar_one()  # fmt: skip
    assert detail == {"count": 1, "case_ids": [cases.many]}


def test_team_page_counts_link_to_the_cases_they_count(browser_for, cases, users):
    for role in ("navigator", "read_only", "ops", "radiologist", "admin"):
        assert browser_for(role).get("/team").status_code == 200, role
    navigator = browser_for("navigator")
    html = navigator.get("/team").text
    assert 'aria-current="page">Team' in html
    rows = dict(re.findall(r'<tr data-navigator="([^"]*)">(.*?)</tr>', html, re.S))
    for who, expected in ((users["navigator"], {"open_cases": 2, "overdue_cases": 1, "tasks_due": 1,
                                                "unacknowledged_alerts": 1, "lost_cases": 0}),
                          ("", {"open_cases": 3, "lost_cases": 1, "overdue_cases": 3})):  # fmt: skip
        for key, count in expected.items():
            cell = re.search(rf'data-testid="{key}"><a href="([^"]+)"[^>]*>(\d+)</a>', rows[who])
            assert int(cell.group(2)) == count, (who, key)
            if key in ("open_cases", "lost_cases", "overdue_cases", "tasks_due"):  # cases counted: the list agrees
                assert len(listed(navigator, cell.group(1).split("?", 1)[1].replace("&amp;", "&"))) == count


# --- any combination of filter values ---------------------------------------------------------------

NONSENSE = st.sampled_from(["xyz", "ünïcødé ✓", "%00", "\x00", "' OR 1=1 --", "x" * 300, "-1", "<b>", "1e9", "０"])
NUMBER = st.integers(min_value=-(10**20), max_value=10**20).map(str)


def valid_values(cases: Cases, users: dict[str, str]) -> dict[str, st.SearchStrategy[str]]:
    return {
        "q": st.sampled_from(["WL-", "wl-many", "midland", "Urgentova, Test", ACCESSION, "Testcase"]),
        "step": st.sampled_from(sorted(all_step_titles())),
        "navigator": st.sampled_from([users["navigator"], users["admin"], UNASSIGNED]),
        "facility": st.just(str(cases.facility_id)),
        "late": st.sampled_from(sorted(LATENESS)),
        "birads": st.sampled_from(sorted(birads_choices())),
        "status": st.sampled_from(["open", "lost_to_follow_up"]),
        "view": st.sampled_from(["action", "all"]),
        "mine": st.sampled_from(["1", "0"]),
        "alert": st.sampled_from(["unacknowledged", "any"]),
        "task": st.sampled_from(["due", "open"]),
        "page": st.just("1"),  # past the last page: clamped with a message (test_view_all_pages_through_every_case)
    }


def satisfied(connection, case_id: int, name: str, value: str, users: dict[str, str]) -> bool:
    """Whether the case meets the filter `name`=`value`, asked of the database directly."""
    case = connection.execute(text(
        "SELECT c.status, c.birads, p.mrn, p.family_name, p.given_name, u.username FROM cases c "
        "JOIN patients p ON p.id = c.patient_id LEFT JOIN users u ON u.id = c.navigator_id WHERE c.id = :id"),
        {"id": case_id}).one()  # fmt: skip
    steps = connection.execute(text("SELECT kind, due_at, accession_number FROM steps WHERE case_id = :id AND "
                                    "status IN ('pending', 'scheduled')"), {"id": case_id}).all()  # fmt: skip
    accessions = connection.execute(text("SELECT accession_number FROM steps WHERE case_id = :id"),
                                    {"id": case_id}).scalars().all()  # fmt: skip
    tasks = connection.execute(text("SELECT due_at FROM navigator_tasks WHERE case_id = :id AND status = 'open'"),
                               {"id": case_id}).scalars().all()  # fmt: skip
    alerts = connection.execute(text("SELECT status FROM alerts WHERE case_id = :id AND status <> 'resolved'"),
                                {"id": case_id}).scalars().all()  # fmt: skip
    earliest = min((step.due_at for step in steps), default=None)
    next_due = min([*(step.due_at for step in steps), *tasks], default=None)
    if name == "q":
        whole = f"{case.family_name}, {case.given_name}".lower()
        return value.lower() in whole or case.mrn.upper().startswith(value.upper()) or value in accessions
    if name == "step":
        return value in {step.kind for step in steps}
    if name == "navigator":
        return case.username == (None if value == UNASSIGNED else value)
    if name == "mine":
        return value != "1" or case.username == users["navigator"]
    if name == "facility":
        return connection.execute(text("SELECT count(*) FROM prior_film_requests WHERE case_id = :id AND "
                                       "facility_id = :f"), {"id": case_id, "f": int(value)}).scalar_one() > 0  # fmt: skip
    if name == "late":
        low, high = lateness_bounds(value, NOW)
        moment = next_due if value == "due_7" else (earliest if earliest and earliest < NOW else None)
        return moment is not None and (low is None or moment >= low) and moment < high
    if name == "birads":
        return case.birads in BIRADS_GROUPS.get(value, ("", (value,)))[1]
    if name == "status":
        return case.status == value
    if name == "alert":
        return "open" in alerts if value == "unacknowledged" else bool(alerts)
    if name == "task":
        return any(due < end_of_today(NOW) for due in tasks) if value == "due" else bool(tasks)
    if name == "view":
        return value == "all" or bool(alerts or tasks) or (next_due is not None and next_due < NOW + timedelta(days=30))
    return name == "page"


def test_any_combination_of_filter_values_answers_a_page(browser_for, cases, users, committed):
    navigator = browser_for("navigator")
    choices = valid_values(cases, users)
    every_kind = st.sampled_from(["absent", "empty", "valid", "number", "nonsense"])
    # Half the queries give only valid or empty values (mostly absent), so rows are checked against the DB.
    good_kinds = st.sampled_from(["absent", "absent", "absent", "empty", "valid", "valid"])

    @st.composite
    def queries(draw) -> list[tuple[str, str, str]]:
        picked = []
        kinds = draw(st.sampled_from([every_kind, good_kinds]))
        for name, valid in choices.items():
            kind = draw(kinds)
            if kind == "absent":
                continue
            value = {"empty": st.just(""), "valid": valid, "number": NUMBER, "nonsense": NONSENSE}[kind]
            picked.append((name, kind, draw(value)))
        return picked

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(queries())
    def check(picked: list[tuple[str, str, str]]) -> None:
        answer = navigator.get("/worklist", params=[(name, value) for name, _, value in picked])
        assert answer.status_code == 200, (picked, answer.status_code, answer.text[:300])
        assert 'data-testid="worklist"' in answer.text and "<h1" in answer.text
        if all(kind in ("valid", "empty", "absent") for _, kind, _ in picked):
            assert 'data-testid="filter-message"' not in answer.text, picked
            with committed.connect() as connection:
                for case_id in shown_ids(answer.text):
                    mine = any(name == "mine" and value == "1" for name, _, value in picked)
                    for name, _, value in picked:
                        if value and not (mine and name == "navigator"):  # "my cases" wins over a navigator
                            assert satisfied(connection, case_id, name, value, users), (case_id, name, value)

    check()
