"""The centre's clock: what people type and read is in WORKUP_TIMEZONE, stored moments are UTC."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.cases.errors import InvalidInput
from tracking.centre_time import input_value, shown_date, shown_moment, typed_moment, validate_timezone
from tracking.settings import Settings, get_settings


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("WORKUP_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_typed_wall_time_is_read_on_the_centre_clock(new_york):
    assert typed_moment("2026-12-03T14:05", what="booked for") == datetime(2026, 12, 3, 19, 5, tzinfo=UTC)  # EST
    assert typed_moment("2026-07-03T14:05", what="booked for") == datetime(2026, 7, 3, 18, 5, tzinfo=UTC)  # EDT
    assert typed_moment("2026-12-03", what="due") == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 09:00 local
    assert typed_moment("2026-12-03T14:05Z", what="x") == datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
    assert typed_moment("  ", what="x") is None


def test_shown_times_are_on_the_centre_clock(new_york):
    moment = datetime(2026, 12, 3, 2, 30, tzinfo=UTC)  # still the 2nd in New York
    assert shown_moment(moment) == "2 Dec 2026 21:30 EST"
    assert shown_date(moment) == "2 Dec 2026"
    assert shown_date(date(2026, 12, 3)) == "3 Dec 2026"
    assert input_value(moment) == "2026-12-02T21:30"


def test_the_skipped_hour_is_refused_and_the_repeated_hour_is_its_first(new_york):
    with pytest.raises(InvalidInput, match="does not exist in America/New_York"):
        typed_moment("2026-03-08T02:30", what="booked for")
    assert typed_moment("2026-11-01T01:30", what="x") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT, first


@pytest.mark.parametrize("raw", ["tomorrow", "2026-13-01", "2026-02-30T10:00", "12/03/2026"])
def test_nonsense_is_refused_naming_the_field(new_york, raw):
    with pytest.raises(InvalidInput, match="booked for: .* is not a date and time"):
        typed_moment(raw, what="booked for")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)))
def test_a_shown_input_value_reads_back_to_the_same_minute(moment):
    os.environ["WORKUP_TIMEZONE"] = "Europe/London"
    get_settings.cache_clear()
    try:
        minute = moment.replace(second=0, microsecond=0)
        back = typed_moment(input_value(minute), what="x")
        assert back is not None and input_value(back) == input_value(minute)
        # a wall time in the repeated autumn hour reads back as its first occurrence, an hour earlier
        assert back == minute or minute - back == timedelta(hours=1)
    finally:
        del os.environ["WORKUP_TIMEZONE"]
        get_settings.cache_clear()


def test_an_unknown_zone_setting_is_refused():
    with pytest.raises(ValueError, match="not a time zone name"):
        validate_timezone("Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="WORKUP_TIMEZONE|timezone"):
        Settings(WORKUP_TIMEZONE="Mars/Olympus_Mons")
