"""The screening recall list on the page and the API, and the stalled-case alert wherever alerts show:
the worklist, the case page, /ops, /api/alerts and `workup alerts`."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.flows.test_screening_after_closure import closed_case
from tests.flows.test_stalled_cases import stalled_case
from tests.integration.test_cli import WORKUP
from tracking.alerts.sweep import sweep_overdue


@pytest.fixture
def recall(committed) -> dict:
    """Two closed cases, swept as of now: one's screening 4 days overdue, the other's due in about 56 days."""
    now = datetime.now(UTC)
    with Session(committed, expire_on_commit=False) as session:
        overdue, overdue_step = closed_case(session, now - timedelta(days=400), mrn="WEB-SCREEN-1")
        soon, _ = closed_case(session, now - timedelta(days=340), mrn="WEB-SCREEN-2")
        sweep_overdue(session, now)
        session.commit()
    return {"overdue": overdue, "soon": soon, "overdue_step": overdue_step.id}


def audited(engine, action: str) -> list[tuple[str, list[int]]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = :action ORDER BY id"), {"action": action}
        ).all()
    return [(actor, detail.get("case_ids")) for actor, detail in rows]


def test_the_page_names_the_patients_filters_and_audits(committed, browser_for, users, recall):
    navigator = browser_for("navigator")
    everything = navigator.get("/screening")
    assert everything.status_code == 200
    assert "Screening recall" in everything.text and 'data-testid="screening"' in everything.text
    assert "WEB-SCREEN-1" in everything.text and "WEB-SCREEN-2" in everything.text  # MRNs, on the page only
    assert everything.text.index("WEB-SCREEN-1") < everything.text.index("WEB-SCREEN-2")  # earliest due first
    assert "OVERDUE" in everything.text and "level 1" in everything.text
    assert "(window " in everything.text  # target and window in the shared wording (tracking/cases/windows.py)
    assert f'href="/cases/{recall["overdue"]}"' in everything.text

    overdue = navigator.get("/screening?due=overdue&days=30")
    assert "WEB-SCREEN-1" in overdue.text and "WEB-SCREEN-2" not in overdue.text
    within = navigator.get("/screening?due=within&days=30", headers={"HX-Request": "true"})
    assert within.status_code == 200 and "<html" not in within.text  # htmx gets the rows only
    assert "WEB-SCREEN-1" in within.text and "WEB-SCREEN-2" not in within.text
    both = navigator.get("/screening?due=within&days=90")
    assert "WEB-SCREEN-1" in both.text and "WEB-SCREEN-2" in both.text

    refused = navigator.get("/screening?due=within&days=abc")
    assert refused.status_code == 200 and 'role="alert"' in refused.text and "whole number of days" in refused.text
    assert "WEB-SCREEN" not in refused.text
    assert navigator.get("/screening?due=later").status_code == 422

    pair = sorted([recall["overdue"], recall["soon"]])
    assert audited(committed, "screening.listed") == [
        (users["navigator"], pair),
        (users["navigator"], [recall["overdue"]]),
        (users["navigator"], [recall["overdue"]]),
        (users["navigator"], pair),
    ]


def test_the_page_pages(committed, browser_for, monkeypatch):
    from tracking.web import routes_screening

    now = datetime.now(UTC)
    with Session(committed) as session:
        for number in range(3):
            closed_case(session, now - timedelta(days=300 + number), mrn=f"PAGE-SCREEN-{number}")
        session.commit()
    monkeypatch.setattr(routes_screening, "PAGE_SIZE", 2)
    navigator = browser_for("navigator")
    first = navigator.get("/screening")
    assert first.text.count("PAGE-SCREEN-") == 2 and "page 1 of 2" in first.text
    assert 'href="/screening?page=2"' in first.text
    second = navigator.get("/screening?page=2")
    assert second.text.count("PAGE-SCREEN-") == 1 and "page 2 of 2" in second.text


def test_the_api_gives_ids_only_and_refuses_bad_filters(committed, api_for, app, recall):
    from fastapi.testclient import TestClient

    assert TestClient(app).get("/api/screening").status_code == 401
    client = api_for("read_only")
    answer = client.get("/api/screening")
    assert answer.status_code == 200
    rows = answer.json()
    assert [row["case_id"] for row in rows] == [recall["overdue"], recall["soon"]]
    assert rows[0]["step_id"] == recall["overdue_step"] and rows[0]["overdue"] is True and rows[0]["alert_level"] == 1
    assert "WEB-SCREEN" not in answer.text and "Maren" not in answer.text
    assert [row["case_id"] for row in client.get("/api/screening", params={"overdue": "true"}).json()] == [
        recall["overdue"]
    ]
    assert [row["case_id"] for row in client.get("/api/screening", params={"due_within": 90}).json()] == [
        recall["overdue"],
        recall["soon"],
    ]
    assert [row["case_id"] for row in client.get("/api/screening", params={"offset": 1, "limit": 1}).json()] == [
        recall["soon"]
    ]
    for params in ({"due_within": -1}, {"due_within": "abc"}, {"due_within": 99999}, {"limit": 0}):
        assert client.get("/api/screening", params=params).status_code == 422, params
    both = client.get("/api/screening", params={"overdue": "true", "due_within": 7})
    assert both.status_code == 422 and "not both" in both.json()["error"]


def test_a_stalled_case_shows_on_the_worklist_case_page_ops_api_and_cli(committed, browser_for, api_for):
    now = datetime.now(UTC)
    with Session(committed) as session:
        case_id = stalled_case(session, now, mrn="WEB-STALL-1")
        session.commit()
    with Session(committed) as session:
        assert sweep_overdue(session, now).cases_stalled == 1
        session.commit()
    headline = f"Case {case_id} is open with no next step dated and nothing alerting: decide what happens next"

    navigator = browser_for("navigator")
    worklist = navigator.get("/worklist")
    panel = worklist.text.split('data-testid="stalled-cases"')[1].split("</section>")[0]
    assert "Cases with nothing next" in panel and headline in panel and f'href="/cases/{case_id}"' in panel
    assert "Testcase, Maren" in panel
    assert 'data-testid="stuck-work"' not in worklist.text  # nothing outside the clinic is stuck
    case_page = navigator.get(f"/cases/{case_id}")
    assert f'data-alert-kind="case_stalled">{headline}' in case_page.text
    ops = browser_for("ops").get("/ops")
    section = ops.text.split('data-testid="stalled-cases"')[1].split("</section>")[0]
    assert f"Case {case_id}" in section and headline in section and "Maren" not in section

    alerts = api_for("ops").get("/api/alerts", params={"open": "true"}).json()
    assert [(row["kind"], row["case_id"], row["headline"], row["step"]) for row in alerts] == [
        ("case_stalled", case_id, headline, None)
    ]
    env = {**os.environ, "DATABASE_URL": committed.url.render_as_string(hide_password=False)}
    shown = subprocess.run([WORKUP, "alerts", "--open", "--json"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert [(row["kind"], row["headline"]) for row in json.loads(shown.stdout)] == [("case_stalled", headline)]
    viewed = audited(committed, "worklist.stuck_viewed")
    assert viewed and all(case_ids == [case_id] for _, case_ids in viewed)


def test_the_case_page_says_handed_off_screening_is_still_tracked(committed, browser_for, recall):
    page = browser_for("read_only").get(f"/cases/{recall['overdue']}")
    assert page.status_code == 200
    assert 'data-testid="screening-recall"' in page.text and "screening recall list" in page.text
    assert "step done: the alert resolves" not in page.text  # the handed-off screening is what is overdue
    assert 'data-alert-kind="overdue_step">Routine annual screening mammogram' in page.text


def test_a_navigator_records_the_screening_on_the_closed_case_and_it_leaves_the_list(committed, browser_for, recall):
    navigator = browser_for("navigator")
    case_page = navigator.get(f"/cases/{recall['overdue']}")
    options = case_page.text.split('data-testid="event-kind"')[1].split("</select>")[0]
    assert 'value="screening_done"' in options and 'value="screening_done_elsewhere"' in options
    assert 'value="magnification_result"' not in options  # the workup is over: only screening is recorded
    saved = navigator.post_form(f"/cases/{recall['overdue']}/events", {"kind": "screening_done", "birads": "1",
                                                                       "token": "web-screening-1"})  # fmt: skip
    assert saved.status_code == 303, saved.text[:500]
    listed = navigator.get("/screening")
    assert "WEB-SCREEN-1" not in listed.text and "WEB-SCREEN-2" in listed.text
