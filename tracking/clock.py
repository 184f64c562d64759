"""The wall clock, and how far a caller may move it.

Commands take `--now` to look at the data as of another moment (tests, simulations, catching up).
A moment more than a day past the wall clock is refused unless the caller says it is a simulation
(`--allow-future`): a typo such as 9999-12-31 would otherwise date alerts, audit rows and
notifications in the far future, and the sweep's "same now twice changes nothing" would hide them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracking.cases.errors import InvalidInput

# How far past the wall clock a given moment may be without --allow-future.
MAX_AHEAD = timedelta(days=1)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def parse_moment(value: str, option: str = "--now") -> datetime:
    """An ISO 8601 moment as aware UTC; a moment without a zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{option} must be an ISO 8601 date-time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def not_too_far_ahead(
    moment: datetime, *, option: str = "--now", given: str | None = None, allow_future: bool = False
) -> datetime:
    """`moment`, or InvalidInput when it is more than MAX_AHEAD past the wall clock and not allowed."""
    if not allow_future and moment > wall_clock() + MAX_AHEAD:
        shown = given if given is not None else moment.isoformat()
        raise InvalidInput(f"{option} {shown} is more than a day in the future; pass --allow-future for simulations")
    return moment


def moment_or_now(value: str | datetime | None, *, option: str = "--now", allow_future: bool = False) -> datetime:
    """A caller's clock (`--now`, a flow parameter) checked against the wall clock, or the wall clock."""
    if value is None:
        return wall_clock()
    if isinstance(value, datetime):
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return not_too_far_ahead(moment, option=option, allow_future=allow_future)
    return not_too_far_ahead(parse_moment(value, option), option=option, given=value, allow_future=allow_future)
