"""The centre's clock face: moments are stored in UTC, shown and typed in WORKUP_TIMEZONE.

One place turns a stored moment into what a person reads ("Tue 3 Dec 2026, 14:05") and what a
person types (an HTML date or datetime-local value, which carries no zone) back into a moment.
Around a daylight-saving change an ambiguous wall time is read as its first occurrence and a
wall time that does not exist (the skipped hour) is refused, naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracking.cases.errors import InvalidInput


def validate_timezone(value: str) -> str:
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone name such as America/New_York or Europe/London") from None
    return name


def centre_zone() -> ZoneInfo:
    from tracking.settings import get_settings

    return ZoneInfo(get_settings().timezone)


def local(moment: datetime | None) -> datetime | None:
    """A stored moment on the centre's clock."""
    if moment is None:
        return None
    return moment.astimezone(centre_zone())


def zone_label(moment: datetime | None = None) -> str:
    """The zone's short name at that moment ("EST", "EDT", "UTC")."""
    return (moment or datetime.now(UTC)).astimezone(centre_zone()).tzname() or centre_zone().key


def shown_moment(moment: datetime | None) -> str:
    """Date and time as people read them, on the centre's clock: "3 Dec 2026 14:05 EST"."""
    if moment is None:
        return ""
    at = moment.astimezone(centre_zone())
    return f"{at.day} {at:%b %Y %H:%M} {at.tzname()}"


def shown_date(moment: datetime | date | None) -> str:
    """The day, on the centre's clock: "3 Dec 2026"."""
    if moment is None:
        return ""
    day = moment.astimezone(centre_zone()).date() if isinstance(moment, datetime) else moment
    return f"{day.day} {day:%b %Y}"


def input_value(moment: datetime | None) -> str:
    """A moment as an HTML datetime-local value on the centre's clock ("2026-12-03T14:05")."""
    if moment is None:
        return ""
    return moment.astimezone(centre_zone()).strftime("%Y-%m-%dT%H:%M")


def typed_moment(raw: str, *, what: str, default_time: time = time(9, 0)) -> datetime | None:
    """What a person typed (datetime-local "2026-12-03T14:05", or a date "2026-12-03", read at
    `default_time`) on the centre's clock, as a UTC moment. Empty: None. A value with its own zone
    ("...Z", "+02:00") is taken as written."""
    text = raw.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            wall = datetime.combine(date.fromisoformat(text), default_time)
        else:
            wall = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what}: {raw!r} is not a date and time (write it as 2026-12-03 14:05)") from None
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    zone = centre_zone()
    at = wall.replace(tzinfo=zone, fold=0)
    if at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise InvalidInput(
            f"{what}: {wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go forward then); "
            "choose another time"
        )
    return at.astimezone(UTC)


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)  # the dates this project stores and reads
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def typed_day(raw: str, *, what: str) -> date | None:
    """A day a person typed ("2026-12-03", as an HTML date input sends it), for a period on the
    centre's clock. Empty: None. Not a date, or outside 1900-2199: InvalidInput naming `what`."""
    text = raw.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if ISO_DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(f"{what} {raw.strip()[:40]!r} is not a date: write it as YYYY-MM-DD, for example 2026-01-31")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{what} {day.isoformat()} is out of range: give a date from 1900 to 2199")
    return day


def day_start(day: date) -> datetime:
    """The UTC moment the centre's day `day` begins (its midnight on WORKUP_TIMEZONE)."""
    return datetime.combine(day, time(0), tzinfo=centre_zone()).astimezone(UTC)
