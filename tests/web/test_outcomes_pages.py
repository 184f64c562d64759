"""The outcomes audit page, its CSV and its PDF (read back with pdftotext), on real PostgreSQL with the
hand-worked cases of tests/outcomes_support.py."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.outcomes_support import AWAITING, PERIOD, ZONE, Story, commit_known_outcomes, ny
from tracking.users.service import create_user

SVG = "{http://www.w3.org/2000/svg}"
QUARTER = f"from={PERIOD[0]}&to={PERIOD[1]}"


@pytest.fixture
def known(committed, configure) -> dict[str, int]:
    configure(WORKUP_TIMEZONE=ZONE)
    return commit_known_outcomes(committed)


def cell(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{re.escape(testid)}">(.*?)</td>', html, re.S)
    assert match, f"no cell {testid}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def audit_rows(engine, action: str) -> list:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = :action ORDER BY id"), {"action": action}
        ).all()


@pytest.mark.parametrize("role", ["radiologist", "ops", "admin"])
def test_radiologists_ops_and_admins_see_the_audit_and_its_link(browser_for, known, role):
    answer = browser_for(role).get(f"/reports/outcomes?{QUARTER}")
    assert answer.status_code == 200, answer.text
    assert '<a href="/reports/outcomes" aria-current="page">Outcomes audit</a>' in answer.text


@pytest.mark.parametrize("role", ["navigator", "read_only"])
def test_other_roles_are_refused_and_have_no_link(browser_for, users, role):
    signed = browser_for(role)
    for address in ("/reports/outcomes", "/reports/outcomes.csv", "/reports/outcomes.pdf"):
        assert signed.get(address).status_code == 403, address
    assert "/reports/outcomes" not in signed.get("/worklist").text


def test_nobody_signed_in_is_sent_to_sign_in(app):
    from fastapi.testclient import TestClient

    answer = TestClient(app).get("/reports/outcomes", follow_redirects=False)
    assert answer.status_code in (302, 303) and "/login" in answer.headers["location"]


def test_the_page_shows_the_hand_worked_figures_beside_their_benchmarks(browser_for, known, committed):
    html = browser_for("radiologist").get(f"/reports/outcomes?{QUARTER}").text
    assert "Period: <strong>2026-01-01 to 2026-03-31</strong>" in html
    assert 'PPV2 <span class="muted">(benchmark 15–40%)</span>' in html
    centre_ppv2 = cell(html, "ppv2-centre")
    assert "33.3% (4 of 12)" in centre_ppv2 and "in range" in centre_ppv2
    assert "includes 4 cases awaiting pathology" in centre_ppv2
    assert "50.0% (4 of 8)" in cell(html, "ppv3-centre") and "above range" in cell(html, "ppv3-centre")
    assert "42.9% (3 of 7)" in cell(html, "ppv2-rad-a") and "above range" in cell(html, "ppv2-rad-a")
    assert "0.0% (0 of 1)" in cell(html, "ppv2-not-recorded") and "below range" in cell(html, "ppv2-not-recorded")
    centre_row = re.search(r'data-testid="figures-centre">(.*?)</tr>', html, re.S).group(1)
    numbers = re.findall(r"<td>(\d+)</td>", centre_row)
    assert numbers[:10] == ["14", "12", "8", "4", "2", "2", "1", "2", "4", "1"]
    for name in AWAITING:
        assert f'<a href="/cases/{known[name]}">Case {known[name]}</a>' in html
    assert "Abnormal interpretation rate" in html and "not available: It needs every examination" in html
    assert "Carney" in html and '"not recorded"' in html
    assert "OUTCOMES-" not in html and "Testcase" not in html  # case ids only
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 3
    for chart in charts:
        tree = ET.fromstring(chart)
        assert tree.find(f"{SVG}title").text and tree.find(f"{SVG}desc").text
    ppv2_desc = ET.fromstring(charts[0]).find(f"{SVG}desc").text
    assert "Centre: 33.3% (4 of 12), in range" in ppv2_desc and "benchmark 15–40%" in ppv2_desc
    assert audit_rows(committed, "outcomes.viewed") == [
        ("u-radiologist", {"from": PERIOD[0], "to": PERIOD[1], "cases_audited": 14,
                           "case_ids": sorted(known[name] for name in AWAITING)})]  # fmt: skip


def test_the_page_without_a_period_counts_every_case(browser_for, known):
    html = browser_for("ops").get("/reports/outcomes").text
    assert "Period: <strong>every case tracked</strong>" in html
    assert (
        re.findall(r"<td>(\d+)</td>", re.search(r'data-testid="figures-centre">(.*?)</tr>', html, re.S).group(1))[0]
        == "16"
    )
    assert 'href="/reports/outcomes.csv"' in html and 'href="/reports/outcomes.pdf"' in html


def test_an_empty_period_says_so(browser_for, known):
    html = browser_for("ops").get("/reports/outcomes?from=2030-01-01&to=2030-12-31").text
    assert 'data-testid="no-cases"' in html and 'data-testid="awaiting-none"' in html
    assert "no data (none in the denominator)" in cell(html, "ppv2-centre")


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-01&to=2026-03-31", "from", "Start date &#39;2026-13-01&#39; is not a date"),
        ("from=2026-04-01&to=2026-03-31", "to", "End date 2026-03-31 is before Start date 2026-04-01"),
        ("from=yesterday&to=soon", "to", "End date &#39;soon&#39; is not a date"),
    ],
)
@pytest.mark.parametrize("address", ["/reports/outcomes", "/reports/outcomes.csv", "/reports/outcomes.pdf"])
def test_a_bad_period_is_named_in_the_error_summary_with_422(browser_for, users, committed, address, query, field,
                                                               message):  # fmt: skip
    answer = browser_for("radiologist").get(f"{address}?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    summary = re.search(r'<div class="problem".*?</div>', html, re.S).group(0)
    assert f'<a href="#{field}">' in summary and message in summary
    assert f'id="{field}" name="{field}" type="date"' in html and 'aria-invalid="true"' in html
    assert 'data-testid="outcomes-figures"' not in html
    assert audit_rows(committed, "outcomes.viewed") == []


def test_csv_download_is_the_figures_per_radiologist_formula_safe_and_audited(browser_for, known, committed):
    with Session(committed) as session:  # a display name a spreadsheet would run as a formula
        create_user(session, username="rad-eq", display_name='=HYPERLINK("http://x.example","x")',
                    role="radiologist", password="correct-horse-battery", actor="test", now=datetime.now(UTC))  # fmt: skip
        Story.open(session, "OUTCOMES-EQ", ny(3, 2)).read("4A", "rad-eq", ny(3, 2))
        session.commit()
    answer = browser_for("admin").get(f"/reports/outcomes.csv?{QUARTER}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="outcomes-audit-2026-01-01-to-2026-03-31.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    names = [row["name"] for row in rows]
    assert names == [
        '\'=HYPERLINK("http://x.example","x")',
        "Ann Radiologist",
        "Ben Radiologist",
        "not recorded",
        "centre",
    ]  # sorted by name; the formula is quoted
    centre = rows[-1]
    assert (centre["biopsies_recommended"], centre["ppv3"], centre["ppv3_verdict"]) == ("13", "0.5", "above range")
    assert len(audit_rows(committed, "export.outcomes_csv")) == 1


def test_pdf_download_reads_back_with_the_figures_and_the_list(browser_for, known, committed, tmp_path):
    answer = browser_for("ops").get(f"/reports/outcomes.pdf?{QUARTER}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    path = tmp_path / "audit.pdf"
    path.write_bytes(answer.content)
    words = " ".join(subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True,
                                    check=True).stdout.split())  # fmt: skip
    assert "Outcomes audit (MQSA 21 CFR 900.12(f))" in words and "2026-01-01 to 2026-03-31" in words
    assert "33.3% (4 of 12) in range" in words and "50.0% (4 of 8) above range" in words
    assert "Ann Radiologist" in words and "not recorded" in words
    for name in AWAITING:
        assert f"Case {known[name]}" in words
    assert "Abnormal interpretation rate" in words and "Carney" in words
    assert "OUTCOMES-" not in words and "Testcase" not in words
    assert len(audit_rows(committed, "export.outcomes_pdf")) == 1
