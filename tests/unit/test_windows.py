"""A step's follow-up window, worked out from its target date and its due time (the window's close)."""

from __future__ import annotations

from datetime import UTC, datetime

from tracking.cases.models import Step
from tracking.cases.windows import due_text, step_window, window_fields

TARGET = datetime(2027, 5, 26, 9, 0, tzinfo=UTC)
CLOSES = datetime(2027, 6, 25, 9, 0, tzinfo=UTC)


def step(target_at: datetime | None, due_at: datetime) -> Step:
    return Step(case_id=1, kind="followup_6_month", due_at=due_at, target_at=target_at, created_by_event_id=1,
                created_at=due_at)  # fmt: skip


def test_a_follow_up_window_opens_as_far_before_its_target_as_it_closes_after():
    found = step_window(step(TARGET, CLOSES))
    assert found is not None
    assert (found.target_at, found.opens_at, found.closes_at) == (TARGET, datetime(2027, 4, 26, 9, tzinfo=UTC), CLOSES)
    assert found.phrase == "target 2027-05-26 (window 2027-04-26 to 2027-06-25)"
    assert due_text(step(TARGET, CLOSES)) == found.phrase
    assert window_fields(step(TARGET, CLOSES)) == {
        "target_at": "2027-05-26T09:00:00+00:00",
        "window_opens_at": "2027-04-26T09:00:00+00:00",
        "window_closes_at": "2027-06-25T09:00:00+00:00",
    }


def test_a_step_without_a_window_has_no_target():
    plain = step(None, CLOSES)
    assert step_window(plain) is None
    assert due_text(plain) == "2027-06-25"
    assert window_fields(plain) == {"target_at": None, "window_opens_at": None, "window_closes_at": None}
