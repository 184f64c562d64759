"""The operations page, its CSV exports and the audit page, against the real database and the demo data."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from tests.factories import seed_opening
from tracking.audit import audit
from tracking.cases.models import Case
from tracking.cases.opening import open_case
from tracking.cases.operations import DEFAULT_TARGETS, Measure, Timeliness, histogram_counts
from tracking.cases.recording import record_event
from tracking.demo import DEMO_CASES, load_demo
from tracking.web.charts import Bar, Marker, histogram, position

SVG = "{http://www.w3.org/2000/svg}"
VIEW_OF = {
    "overdue": "overdue_steps",
    "lost_to_follow_up": "lost_to_follow_up",
    "priors_outstanding": "priors_outstanding",
    "case_timeliness": "case_timeliness",
}
HEADERS = {
    "overdue": ["case_id", "step_id", "step", "laterality", "step_status", "due_at", "scheduled_at", "days_overdue",
                "case_status", "birads", "opened_at", "navigator", "alert_level"],
    "lost_to_follow_up": ["case_id", "opened_at", "birads", "navigator", "declared_at", "contact_attempts",
                          "oldest_open_due_at"],
    "priors_outstanding": ["request_id", "case_id", "facility", "channel", "requested_at", "days_outstanding",
                           "chase_count", "last_chased_at"],
    "case_timeliness": ["case_id", "status", "abnormal_finding_at", "diagnostic_imaging_at", "biopsy_at",
                        "diagnosis_at", "days_imaging_to_biopsy", "days_finding_to_diagnosis"],
    "overdue_counts": ["step", "days_1_7", "days_8_30", "days_31_90", "over_90", "total"],
}  # fmt: skip


STALE_NAME = "Stalecase"


@pytest.fixture
def demo(committed) -> list[int]:
    """The demo cases, one of them declared lost to follow-up so every list has rows, and a case opened
    90 days ago with nothing done (no diagnosis after 60 days: over the CDC limit while still open)."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    with Session(committed) as session:
        case_ids = load_demo(session, now)
        stale = seed_opening(mrn="OPS-STALE-1", family_name=STALE_NAME, facilities=[])
        open_case(session, stale, actor="test", now=now - timedelta(days=90), idempotency_key="ops-test:stale")
        missed = session.exec(
            text("SELECT c.id FROM cases c JOIN patients p ON p.id = c.patient_id WHERE p.mrn = 'DEMO-BIRADS3_MISSED'")
        ).one()[0]
        record_event(session, missed, "appointment_missed", {"step": "followup_6_month"}, actor="test",
                     now=now, idempotency_key="ops-test:missed")  # fmt: skip
        record_event(session, missed, "lost_to_follow_up_declared",
                     {"reason": "Moved away", "override_reason": "Family says she moved abroad; no new address"},
                     actor="test", now=now + timedelta(minutes=1), idempotency_key="ops-test:lost")  # fmt: skip
        session.commit()
        assert session.get(Case, missed).status == "lost_to_follow_up"
    return case_ids


def scalar(engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def cell(html: str, testid: str) -> int:
    match = re.search(rf'data-testid="{re.escape(testid)}">(?:<strong>)?(\d+)<', html)
    assert match, f"no cell {testid}"
    return int(match.group(1))


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(chunk) for chunk in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def read_csv(response) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(response.text))
    return list(reader.fieldnames or []), list(reader)


def test_unauthenticated_ops_redirects_to_login(app):
    response = TestClient(app).get("/ops", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_ops_counts_match_the_overdue_view(demo, browser_for, committed):
    response = browser_for("ops").get("/ops")
    assert response.status_code == 200
    html = response.text
    total = scalar(committed, "SELECT count(*) FROM overdue_steps")
    assert total > 0, "the demo has overdue steps"
    assert cell(html, "overdue-total-total") == total
    with committed.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT step, count(*) FILTER (WHERE days_overdue <= 7), "
                "count(*) FILTER (WHERE days_overdue BETWEEN 8 AND 30), "
                "count(*) FILTER (WHERE days_overdue BETWEEN 31 AND 90), "
                "count(*) FILTER (WHERE days_overdue > 90), count(*) FROM overdue_steps GROUP BY step"
            )
        ).all()
    columns = ("days_1_7", "days_8_30", "days_31_90", "over_90", "total")
    for step, *counts in rows:
        for column, expected in zip(columns, counts, strict=True):
            assert cell(html, f"overdue-{step}-{column}") == expected, (step, column)
    for index, column in enumerate(columns):
        assert cell(html, f"overdue-total-{column}") == sum(row[index + 1] for row in rows)
    # the lost-to-follow-up and outstanding-priors lists link each case by id
    lost = scalar(committed, "SELECT case_id FROM lost_to_follow_up")
    assert f'href="/cases/{lost}"' in html
    for case_id in connection_ids(committed, "SELECT case_id FROM priors_outstanding"):
        assert f'href="/cases/{case_id}"' in html
    assert "Northside Imaging Center" in html  # a facility still owing films


def connection_ids(engine, sql: str) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).scalars())


def test_viewing_ops_is_audited(demo, browser_for, users, committed):
    assert browser_for("admin").get("/ops").status_code == 200
    count = scalar(
        committed,
        "SELECT count(*) FROM audit_log WHERE action = 'ops.viewed' AND actor = :who",
        who=users["admin"],
    )
    assert count == 1


def test_timeliness_states_the_targets_in_words(demo, browser_for, committed):
    html = browser_for("ops").get("/ops").text
    assert "NAPBC" in html and "CDC" in html
    assert "observed NAPBC median of 8–9 days" in html or "observed median 8–9" in html
    # (a) NAPBC: the verdict follows the median of the view's imaging -> biopsy days
    median = scalar(committed, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY days_imaging_to_biopsy) "
                               "FROM case_timeliness WHERE days_imaging_to_biopsy IS NOT NULL")  # fmt: skip
    assert median is not None, "the demo has biopsied cases"
    expected = "Meets the NAPBC target" if median <= 7 else "Misses the NAPBC target"
    assert expected in html
    measured = scalar(committed, "SELECT count(days_imaging_to_biopsy) FROM case_timeliness")
    within = scalar(committed, "SELECT count(*) FROM case_timeliness WHERE days_imaging_to_biopsy <= 7")
    assert f"{within} of {measured} ({within / measured:.0%})" in html
    # (b) CDC: share over 60 days, counting active cases still undiagnosed after 60 days as over
    over = scalar(
        committed,
        "SELECT count(*) FILTER (WHERE days_finding_to_diagnosis > 60) + count(*) FILTER (WHERE diagnosis_at IS NULL "
        "AND status IN ('open', 'lost_to_follow_up') AND now() - abnormal_finding_at > interval '60 days') "
        "FROM case_timeliness",
    )
    judged = scalar(
        committed,
        "SELECT count(days_finding_to_diagnosis) + count(*) FILTER (WHERE diagnosis_at IS NULL "
        "AND status IN ('open', 'lost_to_follow_up') AND now() - abnormal_finding_at > interval '60 days') "
        "FROM case_timeliness",
    )
    waiting = scalar(committed, "SELECT count(*) FROM case_timeliness WHERE diagnosis_at IS NULL "
                                "AND status = 'open' AND now() - abnormal_finding_at > interval '60 days'")  # fmt: skip
    assert waiting >= 1, "the stale case has waited over 60 days without a diagnosis"
    assert judged > 0
    expected = "Meets the CDC limit" if over / judged <= 0.25 else "Misses the CDC limit"
    assert expected in html
    assert f"{over} of {judged} ({over / judged:.0%})" in html


def test_timeliness_charts_are_accessible_svg(demo, browser_for):
    html = browser_for("ops").get("/ops").text
    charts = svgs(html)
    assert len(charts) == 2
    for chart in charts:
        assert chart.tag == f"{SVG}svg"
        assert chart.get("role") == "img"
        title = chart.find(f"{SVG}title")
        assert title is not None and title.text
        assert chart.find(f"{SVG}desc") is not None
        labels = [node.text for node in chart.iter(f"{SVG}text")]
        assert any(label and label.startswith("our median") for label in labels)
    napbc, cdc = charts
    napbc_labels = [node.text for node in napbc.iter(f"{SVG}text")]
    assert "NAPBC target 7 days" in napbc_labels
    assert "observed median 8–9 days" in napbc_labels
    cdc_labels = [node.text for node in cdc.iter(f"{SVG}text")]
    assert any(label.startswith("CDC limit 60 days") for label in cdc_labels)
    assert "no diagnosis yet" in cdc_labels
    assert "<script" not in "".join(re.findall(r"<svg\b.*?</svg>", html, re.S))


def test_empty_database_still_renders_and_says_nothing_is_measurable(committed, browser_for):
    html = browser_for("ops").get("/ops").text
    assert "No step is overdue." in html
    assert "No case is lost to follow-up." in html
    assert "Not yet measurable" in html
    assert len(svgs(html)) == 2


def test_no_patient_name_on_the_ops_page(demo, browser_for):
    html = browser_for("ops").get("/ops").text
    assert "Okafor-Lind" not in html
    for demo_case in DEMO_CASES:
        assert demo_case.family_name not in html
        assert demo_case.given_name not in html
    assert STALE_NAME not in html
    assert "DEMO-" not in html and "OPS-STALE" not in html  # nor an MRN


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_csv_exports_match_the_views(name, demo, browser_for, users, committed):
    response = browser_for("ops").get(f"/ops/export/{name}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, rows = read_csv(response)
    assert header == HEADERS[name]
    if name == "overdue_counts":
        *steps, totals = rows
        assert totals["step"] == "total"
        assert len(steps) == scalar(committed, "SELECT count(DISTINCT step) FROM overdue_steps")
        assert sum(int(row["total"]) for row in steps) == int(totals["total"])
        assert int(totals["total"]) == scalar(committed, "SELECT count(*) FROM overdue_steps")
        expected = len(steps)
    else:
        expected = scalar(committed, f"SELECT count(*) FROM {VIEW_OF[name]}")
        assert len(rows) == expected
        assert expected > 0
    for family in (demo_case.family_name for demo_case in DEMO_CASES):
        assert family not in response.text
    with committed.connect() as connection:
        logged = connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = :action"), {"action": f"export.{name}"}
        ).all()
    assert [(actor, detail["count"]) for actor, detail in logged] == [(users["ops"], expected)]


def test_unknown_export_is_404(browser_for, committed):
    assert browser_for("admin").get("/ops/export/patients.csv").status_code == 404


def test_only_ops_and_admins_see_the_operations_page(demo, browser_for):
    for role in ("navigator", "radiologist", "read_only"):
        other = browser_for(role)
        assert other.get("/ops").status_code == 403, role
        for name in HEADERS:
            assert other.get(f"/ops/export/{name}.csv").status_code == 403
    for role in ("ops", "admin"):
        assert "/ops/export/overdue.csv" in browser_for(role).get("/ops").text


def test_navigator_may_not_see_the_audit_page(browser_for, committed):
    navigator = browser_for("navigator")
    assert navigator.get("/audit").status_code == 403
    assert navigator.get("/audit.csv").status_code == 403


def test_admin_sees_earlier_views_in_the_audit_log(demo, browser_for, users, committed):
    assert browser_for("ops").get("/ops").status_code == 200
    admin = browser_for("admin")
    response = admin.get("/audit")
    assert response.status_code == 200
    assert "ops.viewed" in response.text and users["ops"] in response.text
    filtered = admin.get("/audit", params={"action": "ops.viewed"}).text
    assert filtered.count("<tr data-audit=") == 1
    assert users["ops"] in filtered
    nobody = admin.get("/audit", params={"actor": users["navigator"], "action": "ops.viewed"}).text
    assert nobody.count("<tr data-audit=") == 0
    # viewing the audit page is itself audited, with its filters
    with committed.connect() as connection:
        query = text("SELECT detail FROM audit_log WHERE action = 'audit.viewed' AND actor = :who ORDER BY id")
        views = connection.execute(query, {"who": users["admin"]}).scalars().all()
    assert len(views) == 3
    assert views[1]["filter_action"] == "ops.viewed"


def test_audit_filters_by_case_and_prefix_newest_first(demo, browser_for, committed):
    admin = browser_for("admin")
    case_id = demo[0]
    html = admin.get("/audit", params={"case": str(case_id)}).text
    rows = re.findall(r'<tr data-audit="(\d+)">', html)
    # the case's own rows, and the list views and exports that showed it (detail.case_ids)
    shown = "SELECT count(*) FROM audit_log WHERE case_id = :id OR detail->'case_ids' @> to_jsonb(ARRAY[:id])"
    assert rows and len(rows) == scalar(committed, shown, id=case_id)
    assert [int(item) for item in rows] == sorted((int(item) for item in rows), reverse=True)
    assert "case.opened" in html
    # a prefix filter, and a case id that is not a number is a message, not a crash
    assert admin.get("/ops/export/overdue.csv").status_code == 200
    assert "export.overdue" in admin.get("/audit", params={"action": "export.*"}).text
    bad = admin.get("/audit", params={"case": "abc"})
    assert bad.status_code == 200
    assert "A case id is a whole number" in bad.text


def test_audit_is_paginated_and_exports_csv(browser_for, committed):
    admin = browser_for("admin")
    start = datetime.now(UTC) - timedelta(days=1)
    with Session(committed) as session:
        for number in range(150):
            audit(session, actor="bulk", action="bulk.row", at=start + timedelta(seconds=number), number=number)
        session.commit()
    first = admin.get("/audit", params={"actor": "bulk"}).text
    assert first.count('<tr data-audit="') == 100
    assert [int(item) for item in re.findall(r"number=(\d+)<", first)] == list(range(149, 49, -1))
    assert "page 1 of 2" in first
    second = admin.get("/audit", params={"actor": "bulk", "page": "2"}).text
    assert second.count('<tr data-audit="') == 50
    assert [int(item) for item in re.findall(r"number=(\d+)<", second)] == list(range(49, -1, -1))
    exported = admin.get("/audit.csv", params={"actor": "bulk"})
    assert exported.status_code == 200
    header, rows = read_csv(exported)
    assert header == ["id", "at", "actor", "action", "case_id", "detail"]
    assert len(rows) == 150
    assert scalar(committed, "SELECT count(*) FROM audit_log WHERE action = 'export.audit'") == 1


def test_verdicts_follow_the_published_figures():
    slow = Timeliness(DEFAULT_TARGETS, Measure((6.0, 9.0, 12.0)), Measure((10.0, 70.0, 20.0), waiting_past_limit=1), 0)
    assert slow.imaging_to_biopsy.median == 9.0
    assert slow.napbc_verdict.meets is False and slow.napbc_verdict.text.startswith("Misses the NAPBC target")
    assert slow.napbc_against_observed == "In line with the observed NAPBC median of 8–9 days."
    assert slow.napbc_within == 1
    assert (slow.cdc_over, slow.finding_to_diagnosis.judged) == (2, 4)  # 70 days, and one still waiting
    assert slow.cdc_verdict.meets is False and slow.cdc_verdict.text.startswith("Misses the CDC limit: 50%")
    fast = Timeliness(DEFAULT_TARGETS, Measure((7.0, 3.0)), Measure((10.0, 61.0, 20.0, 30.0)), 2)
    assert fast.napbc_verdict.meets is True and fast.napbc_within == 2  # exactly 7 days is within the target
    assert fast.cdc_share_over == 0.25 and fast.cdc_verdict.text.startswith("Meets the CDC limit")  # 25% is allowed
    empty = Timeliness(DEFAULT_TARGETS, Measure(()), Measure(()), 0)
    assert empty.napbc_verdict.meets is None and empty.cdc_verdict.meets is None


def test_histogram_buckets_positions_and_escaping():
    assert histogram_counts([0.5, 7.0, 7.1, 14.0, 30.0], (7, 14, 21)) == [2, 2, 0, 1]
    assert position(7, (7, 14)) == 1.0 and position(10.5, (7, 14)) == 1.5 and position(99, (7, 14)) == 2.5
    svg = histogram(chart_id="c", title="A <b> & c", bars=[Bar("≤7", 0), Bar(">7", 3, waiting=True, note="x")],
                    markers=[Marker("target & more", 1.0), Marker("band", 1.1, 1.3, kind="band")])  # fmt: skip
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "A <b> & c"
    assert "target & more" in [node.text for node in root.iter(f"{SVG}text")]
    assert "≤7: 0 cases; >7 (x): 3 cases" in root.find(f"{SVG}desc").text
