"""Dates as letters write them, in the letter's language ("March 2, 2026", "2 de marzo de 2026")."""

from __future__ import annotations

from datetime import date

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
}  # fmt: skip
FORMATS = {"en": "{month} {day}, {year}", "es": "{day} de {month} de {year}"}


def long_date(value: str | date, language: str) -> str:
    """An ISO date (as the letter's inputs hold it) in words; ISO itself for a language without month names."""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    months = MONTHS.get(language)
    if months is None:
        return day.isoformat()
    return FORMATS[language].format(month=months[day.month - 1], day=day.day, year=day.year)
