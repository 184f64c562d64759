"""A follow-up's target date and window in the API and on the pages (the app, real PostgreSQL).

The BI-RADS 3 case is played through the real services at fixed moments (tests/factories.py);
the app's clock is its `get_now` dependency, set by each test.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from tests.factories import (
    FOLLOWUP_CLOSES,
    FOLLOWUP_OPENS,
    FOLLOWUP_READ,
    FOLLOWUP_TARGET,
    FOLLOWUP_WINDOW,
    followup_case,
    open_probably_benign_case,
)
from tracking.cases.windows import WINDOW_FIELDS
from tracking.web.deps import get_now

INSIDE_WINDOW = datetime(2026, 9, 20, 9, 0, tzinfo=UTC)  # past the target, 15 days before the window closes
AFTER_WINDOW = datetime(2026, 10, 6, 9, 0, tzinfo=UTC)  # a day after it closed


@pytest.fixture
def clock(app):
    """The app's clock: set `clock.now`."""

    class Clock:
        now = INSIDE_WINDOW

    moment = Clock()
    app.dependency_overrides[get_now] = lambda: moment.now
    yield moment
    app.dependency_overrides.pop(get_now, None)


@pytest.fixture
def case_id(committed) -> int:
    with Session(committed) as session:
        opened = open_probably_benign_case(session)
        session.commit()
    return opened


def step_rows(html: str) -> dict[str, str]:
    """The case page's steps table: each step kind's row (the last one of a kind)."""
    table = re.search(r'<table data-testid="steps">(.*?)</table>', html, re.S).group(1)
    return dict(re.findall(r'<tr data-kind="(\w+)"[^>]*>(.*?)</tr>', table, re.S))


def due_cell(row: str) -> str:
    return re.search(r'<td data-testid="due">(.*?)</td>', row, re.S).group(1)


def test_api_case_gives_the_follow_up_its_target_and_window(clock, api_for, case_id):
    case = api_for("navigator").get(f"/api/cases/{case_id}")
    assert case.status_code == 200, case.text
    steps = {step["kind"]: step for step in case.json()["steps"]}

    followup = steps["followup_6_month"]
    assert followup["target_at"] == FOLLOWUP_TARGET  # 6 months after the BI-RADS 3 read
    assert followup["window_opens_at"] == FOLLOWUP_OPENS
    assert followup["window_closes_at"] == FOLLOWUP_CLOSES == followup["due_at"]  # 30 days after the target
    for kind in ("result_letter", "ultrasound"):  # no window: no target
        assert {name: steps[kind][name] for name in WINDOW_FIELDS} == dict.fromkeys(WINDOW_FIELDS), kind


def test_api_overdue_lists_the_follow_up_only_after_its_window_closes(clock, api_for, case_id):
    api = api_for("navigator")
    assert api.get("/api/overdue", params={"step": "followup_6_month"}).json() == []  # inside the window

    clock.now = AFTER_WINDOW
    [row] = api.get("/api/overdue", params={"step": "followup_6_month"}).json()
    assert (row["target_at"], row["window_opens_at"], row["window_closes_at"]) == (
        FOLLOWUP_TARGET, FOLLOWUP_OPENS, FOLLOWUP_CLOSES,
    )  # fmt: skip
    assert row["days_overdue"] == 1
    ultrasound = api.get("/api/overdue", params={"step": "ultrasound"}).json()
    assert [row["target_at"] for row in ultrasound] == [None]


def test_case_page_shows_the_target_and_window_and_no_target_for_other_steps(clock, browser_for, case_id):
    navigator = browser_for("navigator")
    html = navigator.get(f"/cases/{case_id}").text
    rows = step_rows(html)

    assert due_cell(rows["followup_6_month"]) == FOLLOWUP_WINDOW
    assert "due in 15 days" in rows["followup_6_month"]  # inside the window: not overdue
    assert due_cell(rows["ultrasound"]) == "2026-03-16"  # no window: its due date, no target
    assert due_cell(rows["result_letter"]) == "2026-04-04"
    next_steps = re.search(r'<ul data-testid="next-steps">(.*?)</ul>', html, re.S).group(1)
    assert f"(Left), {FOLLOWUP_WINDOW}</li>" in next_steps

    clock.now = AFTER_WINDOW  # signed in afresh: a session idle for 16 days has timed out
    rows = step_rows(browser_for("navigator").get(f"/cases/{case_id}").text)
    assert "OVERDUE 1 day" in rows["followup_6_month"] and due_cell(rows["followup_6_month"]) == FOLLOWUP_WINDOW


def test_worklist_row_and_export_show_the_follow_ups_window(clock, browser_for, case_id, committed):
    """One row per case, showing its next action: the follow-up's window when the follow-up is next."""
    with Session(committed) as session:
        followup_only = followup_case(session, FOLLOWUP_READ, "TEST-WINDOW-2")  # letter sent: the follow-up is next
        session.commit()
    html = browser_for("navigator").get("/worklist").text
    worklist = re.search(r'<table data-testid="worklist"[^>]*>(.*?)</table>', html, re.S).group(1)
    cells = dict(
        re.findall(r'<tr data-case="(\d+)">.*?<td data-label="Due" data-testid="due">(.*?)</td>', worklist, re.S)
    )
    assert cells[str(followup_only)] == FOLLOWUP_WINDOW
    assert cells[str(case_id)] == "2026-03-16"  # its overdue ultrasound comes first: no window, its due date

    exported = {int(row["case_id"]): row for row in csv.DictReader(io.StringIO(
        browser_for("ops").get("/worklist.csv").text))}  # fmt: skip
    followup = exported[followup_only]
    assert followup["next_step"] == "6-month diagnostic mammogram (affected breast)"
    assert (followup["target_at"], followup["window_opens_at"], followup["window_closes_at"]) == (
        FOLLOWUP_TARGET, FOLLOWUP_OPENS, FOLLOWUP_CLOSES,
    )  # fmt: skip
    ultrasound = exported[case_id]
    assert ultrasound["target_at"] == ultrasound["window_opens_at"] == ultrasound["window_closes_at"] == ""
