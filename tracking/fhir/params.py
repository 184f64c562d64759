"""Search parameters: what a search may name, parsed and checked before any query runs.

A parameter given twice must match both (AND); values separated by commas match either (OR).
Tokens are `code`, `system|code`, `|code` (no system) or `system|`; references `<id>`,
`<Type>/<id>` or the full URL; dates `[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.f]][zone]]]]` with the
prefixes eq (the default), gt, lt, ge and le, a value without a zone read on the centre's clock
(WORKUP_TIMEZONE). Paging: `_count` (default 20, at most 100), `_offset`, `_total=none` to skip
counting. Anything else, a modifier, an empty or malformed value is refused (400) naming the
parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, or_

from tracking.centre_time import centre_zone
from tracking.fhir.outcome import bad_parameter
from tracking.pathway.fields import INT4_MAX

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 1_000_000
MAX_VALUES = 20  # values of one parameter, OR-ed, and repeats of one parameter, AND-ed
MAX_LENGTH = 300
RESULT_PARAMETERS = ("_count", "_offset", "_total", "_format")
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
SUPPORTED_PREFIXES = ("eq", "gt", "lt", "ge", "le")
OTHER_PREFIXES = ("ne", "sa", "eb", "ap")
DATE_VALUE = re.compile(
    r"(?P<prefix>[a-z]{2})?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
FIRST_YEAR, LAST_YEAR = 1900, 2199
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # "token" | "reference" | "date", as the CapabilityStatement declares it
    documentation: str
    target: str | None = None  # the resource type a reference parameter points at


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str | None  # None: any code ("system|")


@dataclass(frozen=True)
class DateRange:
    """A date value's prefix and the instants it covers, [start, end) at the precision it was written."""

    prefix: str
    start: datetime
    end: datetime

    def condition(self, column: Any) -> Any:
        return {
            "eq": and_(column >= self.start, column < self.end),
            "gt": column >= self.end,
            "lt": column < self.start,
            "ge": column >= self.start,
            "le": column < self.end,
        }[self.prefix]


@dataclass
class SearchRequest:
    """A checked search: the parsed values of each parameter, the page wanted, the pairs for links."""

    resource_type: str
    criteria: dict[str, list[list[Any]]] = field(default_factory=dict)  # name -> AND of ORs of parsed values
    count: int = DEFAULT_COUNT
    offset: int = 0
    total: bool = True
    given: list[tuple[str, str]] = field(default_factory=list)  # the search pairs as sent (for links)
    total_given: str | None = None

    def groups(self, name: str) -> list[list[Any]]:
        return self.criteria.get(name, [])

    @property
    def names(self) -> list[str]:
        return sorted(self.criteria)


def parse_search(
    resource_type: str, pairs: Iterable[tuple[str, str]], supported: Mapping[str, SearchParam], *, base: str
) -> SearchRequest:
    """Check every pair of the query string against the resource's parameters; refuse the first problem."""
    request = SearchRequest(resource_type)
    seen: set[str] = set()
    for key, raw in pairs:
        name, _, modifier = key.partition(":")
        shown = key[:60]
        if name in RESULT_PARAMETERS:
            if modifier or name in seen:
                raise bad_parameter(shown, f"{shown}: give {name} once, without a modifier")
            seen.add(name)
            _result_parameter(request, name, _plain(shown, raw))
            continue
        param = supported.get(name)
        if param is None:
            known = ", ".join([*supported, *RESULT_PARAMETERS])
            raise bad_parameter(
                shown, f"{shown!r} is not a search parameter of {resource_type}; this server supports {known}",
                code="not-supported",
            )  # fmt: skip
        if modifier:
            raise bad_parameter(shown, f"{shown}: the :{modifier[:30]} modifier is not supported", code="not-supported")
        values = [_parse_value(param, value, base) for value in _split(param.name, _plain(param.name, raw))]
        groups = request.criteria.setdefault(param.name, [])
        if len(groups) >= MAX_VALUES:
            raise bad_parameter(param.name, f"{param.name}: given more than {MAX_VALUES} times")
        groups.append(values)
        request.given.append((key, raw))
    return request


def _plain(name: str, raw: str) -> str:
    if not raw.strip():
        raise bad_parameter(name, f"{name}: no value given")
    if len(raw) > MAX_LENGTH:
        raise bad_parameter(name, f"{name}: the value is longer than {MAX_LENGTH} characters")
    if CONTROL.search(raw):
        raise bad_parameter(name, f"{name}: the value contains a control character")
    return raw


def _result_parameter(request: SearchRequest, name: str, raw: str) -> None:
    if name == "_format":
        check_format([raw])
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise bad_parameter(name, "_total: write none, estimate or accurate")
        request.total, request.total_given = raw != "none", raw
    else:
        number = _whole_number(name, raw)
        if name == "_count":
            request.count = min(number, MAX_COUNT)  # a larger page is served as the largest
        elif number > MAX_OFFSET:
            raise bad_parameter(name, f"_offset: at most {MAX_OFFSET:,}")
        else:
            request.offset = number


def check_format(values: list[str]) -> None:
    """`_format` (on any request): JSON only, given at most once."""
    if len(values) > 1:
        raise bad_parameter("_format", "_format: give _format once")
    for raw in values:
        if raw.strip().lower().replace(" ", "+") not in JSON_FORMATS:
            raise bad_parameter("_format", f"_format: only JSON is served ({', '.join(sorted(JSON_FORMATS))})",
                                code="not-supported")  # fmt: skip


def _whole_number(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise bad_parameter(name, f"{name}: {raw[:40]!r} is not a whole number of 0 or more")
    return int(raw)


def _split(name: str, raw: str) -> list[str]:
    """Values separated by unescaped commas (`\\,` is a comma inside a value)."""
    values = [part.replace("\\,", ",") for part in re.split(r"(?<!\\),", raw)]
    if len(values) > MAX_VALUES:
        raise bad_parameter(name, f"{name}: more than {MAX_VALUES} values")
    if any(not value for value in values):
        raise bad_parameter(name, f"{name}: an empty value between commas")
    return values


def _parse_value(param: SearchParam, value: str, base: str) -> Any:
    if param.type == "token":
        return parse_token(value)
    if param.type == "reference":
        return parse_reference(param.name, value, param.target or "", base)
    return parse_date(param.name, value)


def parse_token(value: str) -> Token:
    if "|" not in value:
        return Token(None, value)
    system, code = value.split("|", 1)
    return Token(system, code or None)


def parse_reference(name: str, value: str, target: str, base: str) -> int:
    """`123`, `Patient/123` or `<base>/Patient/123` as the id 123; anything else is refused, naming `name`."""
    local = value[len(base) + 1 :] if value.startswith(base + "/") else value
    kind, _, number = local.rpartition("/")
    if kind not in ("", target) or not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= INT4_MAX:
        raise bad_parameter(
            name, f"{name}: {value[:60]!r} is not a {target} reference ({target}/<id>, ids are numbers)"
        )
    return int(number)


def parse_date(name: str, value: str) -> DateRange:
    # A '+' in a query string arrives as a space unless the client escaped it (%2B): read it as '+'.
    text = re.sub(r" (\d{2}:\d{2})$", r"+\1", value)
    found = DATE_VALUE.fullmatch(text)
    if found is None:
        raise bad_parameter(
            name, f"{name}: {value[:60]!r} is not a date (write ge2026-03-01 or lt2026-03-01T09:00:00Z)"
        )
    parts = found.groupdict()
    prefix = parts["prefix"] or "eq"
    if prefix in OTHER_PREFIXES:
        supported = ", ".join(SUPPORTED_PREFIXES)
        raise bad_parameter(name, f"{name}: the prefix {prefix!r} is not supported; use {supported}",
                            code="not-supported")  # fmt: skip
    if prefix not in SUPPORTED_PREFIXES:
        raise bad_parameter(name, f"{name}: {prefix!r} is not a prefix; use {', '.join(SUPPORTED_PREFIXES)}")
    if not FIRST_YEAR <= int(parts["year"] or 0) <= LAST_YEAR:
        raise bad_parameter(name, f"{name}: the year must be {FIRST_YEAR} to {LAST_YEAR}")
    try:
        start, end = _range(parts)
    except ValueError:
        raise bad_parameter(name, f"{name}: {value[:60]!r} is not a date on the calendar") from None
    return DateRange(prefix, start, end)


def _range(parts: dict[str, str | None]) -> tuple[datetime, datetime]:
    """The instants a date value covers: a year, a month, a day, a minute, a second or a fraction of one."""
    year, month, day = int(parts["year"] or 0), int(parts["month"] or 1), int(parts["day"] or 1)
    if parts["hour"] is None:
        start_day = date(year, month, day)
        if parts["day"]:
            end_day = start_day + timedelta(days=1)
        elif parts["month"]:
            end_day = date(year + (month == 12), month % 12 + 1, 1)
        else:
            end_day = date(year + 1, 1, 1)
        zone = centre_zone()
        return (datetime.combine(start_day, datetime.min.time(), zone),
                datetime.combine(end_day, datetime.min.time(), zone))  # fmt: skip
    fraction, zone = parts["fraction"] or "", parts["zone"]
    stamp = f"{year:04d}-{month:02d}-{day:02d}T{parts['hour']}:{parts['minute']}:{parts['second'] or '00'}"
    stamp += (f".{fraction.ljust(6, '0')}" if fraction else "") + ("+00:00" if zone == "Z" else zone or "")
    start = datetime.fromisoformat(stamp)
    if zone is None:
        start = start.replace(tzinfo=centre_zone())
    elif abs(start.utcoffset() or timedelta(0)) > timedelta(hours=14):
        raise ValueError("no time zone is more than 14 hours from UTC")
    if parts["second"] is None:
        width = timedelta(minutes=1)
    else:
        width = timedelta(microseconds=10 ** (6 - len(fraction))) if fraction else timedelta(seconds=1)
    return start, start + width


def reference_condition(column: Any, groups: list[list[int]]) -> list[Any]:
    """One condition per repeat of a reference parameter: the column is one of its ids."""
    return [column.in_(ids) for ids in groups]


def date_conditions(column: Any, groups: list[list[DateRange]]) -> list[Any]:
    """One condition per repeat of a date parameter: any of its values (OR)."""
    return [or_(*(value.condition(column) for value in values)) for values in groups]


def token_codes(name: str, groups: list[list[Token]], system: str | None, known: Iterable[str] | None = None) -> list:
    """Each repeat's codes in `system` (a token in another system matches nothing); `known` refuses the rest."""
    allowed = None if known is None else set(known)
    result = []
    for tokens in groups:
        codes: set[str | None] = set()
        for token in tokens:
            if token.system is not None and token.system != system:
                continue  # another system: cannot match
            if allowed is not None and token.code is not None and token.code not in allowed:
                choices = ", ".join(sorted(allowed))
                raise bad_parameter(name, f"{name}: {token.code[:60]!r} is not one of {choices}")
            codes.add(token.code)
        result.append(codes)
    return result


def codes_condition(column: Any, groups: list[set[str | None]], expand: Any = None) -> list[Any]:
    """One condition per repeat of a token parameter: the column holds one of its codes (None: any code)."""
    conditions = []
    for codes in groups:
        if None in codes:
            continue  # "system|": any code of the system matches
        values = sorted({value for code in codes for value in (expand(code) if expand else [code])})
        conditions.append(column.in_(values) if values else false())
    return conditions
