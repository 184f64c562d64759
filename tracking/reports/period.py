"""A report's period: whole days on the centre's clock (WORKUP_TIMEZONE), both ends included.

`--from 2026-01-01 --to 2026-12-31` (or the page's two date fields) covers every moment from
midnight starting 1 January to midnight ending 31 December on the centre's clock. Either end may be
left out: from the first case, up to now. A bad date, or an end before the start, is named by field
(`problems`) and nothing is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tracking.cases.errors import InvalidInput
from tracking.centre_time import day_start, typed_day


@dataclass(frozen=True)
class Period:
    first_day: date | None = None
    last_day: date | None = None

    @property
    def start(self) -> datetime | None:
        """The first moment in the period (UTC), or None: from the beginning."""
        return day_start(self.first_day) if self.first_day else None

    @property
    def end(self) -> datetime | None:
        """The first moment after the period (UTC), or None: up to now."""
        return day_start(self.last_day + timedelta(days=1)) if self.last_day else None

    def contains(self, moment: datetime) -> bool:
        start, end = self.start, self.end
        return (start is None or moment >= start) and (end is None or moment < end)

    @property
    def label(self) -> str:
        first, last = self.first_day, self.last_day
        if first and last:
            return f"{first.isoformat()} to {last.isoformat()}"
        if first:
            return f"from {first.isoformat()}"
        if last:
            return f"up to {last.isoformat()}"
        return "every case tracked"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "from": self.first_day.isoformat() if self.first_day else None,
            "to": self.last_day.isoformat() if self.last_day else None,
        }


def read_period(
    raw_from: str | None, raw_to: str | None, labels: dict[str, str]
) -> tuple[Period | None, dict[str, str]]:
    """The period typed, or None and a message per field ("from", "to"), each naming the field by `labels`."""
    problems: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for field, raw in (("from", raw_from), ("to", raw_to)):
        try:
            days[field] = typed_day(raw or "", what=labels[field])
        except InvalidInput as error:
            problems[field] = str(error)
            days[field] = None
    first, last = days["from"], days["to"]
    if first and last and last < first:
        problems["to"] = f"{labels['to']} {last.isoformat()} is before {labels['from']} {first.isoformat()}"
    if problems:
        return None, problems
    return Period(first, last), {}


def period_or_refuse(raw_from: str | None, raw_to: str | None) -> Period:
    """For the command line: the period, or InvalidInput (exit 2) naming every bad option."""
    period, problems = read_period(raw_from, raw_to, {"from": "--from", "to": "--to"})
    if period is None:
        raise InvalidInput("; ".join(problems.values()))
    return period
