"""What the letters page shows, gathered once: lay summaries owed (the same `letters_due` the CLI's
`workup letters --due` reads), letters produced and not yet sent with their deadlines, the filters
a navigator uses (kind; overdue, due today, due soon), and the banner after a save."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select
from starlette.datastructures import QueryParams

from tracking.audit import audit
from tracking.cases.models import Case, Patient
from tracking.centre_time import shown_moment
from tracking.letters.deadlines import days_left_words, letters_due
from tracking.letters.kinds import (
    KIND_WORDS,
    LANGUAGE_WORDS,
    LetterChannel,
    LetterKind,
    channel_words,
    kind_words,
    language_words,
)
from tracking.letters.language import available_languages
from tracking.letters.marking import sending_note
from tracking.letters.models import Letter
from tracking.letters.sending import queued_letters, sendable
from tracking.letters.unsent import unsent_letters
from tracking.pathway.fields import INT4_MAX
from tracking.settings import get_settings
from tracking.web.form_problems import Problems
from tracking.web.presenters import words

SOON_DAYS = 7
WHEN = {"": "Any deadline", "overdue": "Overdue", "today": "Due today", "soon": f"Due in the next {SOON_DAYS} days"}
SHOWN_MAX = 40  # characters of a refused filter value echoed back


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    when: str = ""


def read_filters(params: QueryParams) -> tuple[Filters, Problems]:
    """The query string's filters; a value that is not a choice is named and ignored (never an error page)."""
    problems = Problems()
    kind, when = (params.get("kind") or "").strip(), (params.get("when") or "").strip()
    if kind and kind not in KIND_WORDS:
        problems.add("filter-kind", f"There is no kind of letter called '{kind[:SHOWN_MAX]}'; showing every kind")
        kind = ""
    if when not in WHEN:
        problems.add("filter-when", f"'{when[:SHOWN_MAX]}' is not a deadline to filter by; showing any deadline")
        when = ""
    return Filters(kind, when), problems


def when_matches(when: str, days_left: int) -> bool:
    if when == "overdue":
        return days_left < 0
    if when == "today":
        return days_left == 0
    if when == "soon":
        return 0 < days_left <= SOON_DAYS
    return True


def badge(days_left: int) -> dict[str, str]:
    css = "late" if days_left < 0 else ("soon" if days_left < SOON_DAYS else "later")
    return {"css": css, "text": days_left_words(days_left)}


def letters_context(session: Session, now: datetime, actor: str, filters: Filters) -> dict[str, Any]:
    """The owed and the unsent lists as the filters show them; audits the case ids shown."""
    owed = [item for item in letters_due(session, now, actor=actor) if when_matches(filters.when, item.days_left)]
    if filters.kind and filters.kind != LetterKind.result:
        owed = []  # only lay summaries are owed by a step
    unsent = [item for item in unsent_letters(session, now, kind=filters.kind or None)
              if when_matches(filters.when, item.days_left)]  # fmt: skip
    people = _patients(session, {item.case_id for item in owed} | {item.letter.case_id for item in unsent})
    # A lay summary already produced for an owed case is printed from the list, not produced again.
    waiting = {(row.case_id, row.kind): row.id for row in _unsent_results(session, [item.case_id for item in owed])}
    audit(session, actor=actor, action="letters.listed", at=now, count=len(unsent),
          case_ids=sorted({item.letter.case_id for item in unsent}))  # fmt: skip
    queued = queued_letters(session, [item.letter.id for item in unsent if item.letter.id is not None])
    return {
        "owed": [
            {"item": item, "badge": badge(item.days_left), "patient": people.get(item.case_id),
             "waiting": waiting.get((item.case_id, item.kind))}
            for item in owed
        ],
        "unsent": [
            {"letter": item.letter, "send_by": item.send_by, "badge": badge(item.days_left),
             "patient": people.get(item.letter.case_id), "kind": kind_words(item.letter.kind),
             "channel": channel_words(item.letter.channel), "language": language_words(item.letter.language),
             "sendable": sendable(item.letter), "queued": item.letter.id in queued}
            for item in unsent
        ],
        "filters": filters,
        "kinds": list(KIND_WORDS.items()),
        "whens": WHEN,
        "languages": [(language, language_words(language)) for language in available_languages(
            get_settings().letters_dir)],
        "channels": [(channel.value, channel_words(channel)) for channel in LetterChannel],
        "language_words": LANGUAGE_WORDS,
    }  # fmt: skip


def _patients(session: Session, case_ids: set[int]) -> dict[int, Patient]:
    if not case_ids:
        return {}
    rows = session.exec(select(Case.id, Patient).join(Patient).where(col(Case.id).in_(case_ids))).all()
    return {case_id: patient for case_id, patient in rows if case_id is not None}


def _unsent_results(session: Session, case_ids: list[int]) -> list[Letter]:
    if not case_ids:
        return []
    return list(session.exec(select(Letter).where(col(Letter.case_id).in_(case_ids), Letter.status == "produced")))


def an_id(value: str) -> int | None:
    """A row id as typed in a form or a link (1 to int4's largest), or None."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 10 and 1 <= int(value) <= INT4_MAX:
        return int(value)
    return None


def letter_ids(values: list[str], limit: int = 100) -> list[int]:
    """Letter ids from a query string (a banner's `letter=`): garbage is ignored, never an error."""
    return [found for found in (an_id(value) for value in values[:limit]) if found is not None]


def banner(session: Session, saved: str, ids: list[int]) -> dict[str, Any] | None:
    """The success banner after a save (Post/Redirect/Get), from what was recorded."""
    letters = [letter for letter in (session.get(Letter, letter_id) for letter_id in ids) if letter is not None]
    if not letters or saved not in ("produced", "sent", "queued"):
        return None
    if saved == "queued":
        letter = letters[0]
        return {"title": "Letter queued to go", "links": [], "lines": [
            f"Letter {letter.id} ({kind_words(letter.kind)}, case {letter.case_id}) is queued to go by "
            f"{channel_words(letter.channel)}. It is marked sent once the mail server accepts it; while a server is "
            "away it waits and is tried again."]}  # fmt: skip
    if saved == "sent":
        return {"title": f"{len(letters)} letter{'s' if len(letters) != 1 else ''} marked sent",
                "lines": [sending_note(session, letter) for letter in letters], "links": []}  # fmt: skip
    letter = letters[0]
    line = (f"Letter {letter.id} ({kind_words(letter.kind)}, {language_words(letter.language)}, "
            f"{channel_words(letter.channel)}) produced for case {letter.case_id} on "
            f"{shown_moment(letter.produced_at)}. Print it from the list below, then mark it sent.")  # fmt: skip
    fallback = letter.inputs.get("language_fallback_from")
    lines = [line]
    if fallback:
        lines.append(f"There are no letter templates in the patient's language ({fallback}): it is written in English.")
    return {
        "title": "Letter produced",
        "lines": lines,
        "links": [(f"/letters/{letter.id}.pdf", f"Letter {letter.id} (PDF)")],
    }


def case_letter(session: Session, letter: Letter) -> dict[str, Any]:
    """A letter as the case page's Letters section shows it."""
    return {
        "letter": letter,
        "kind": kind_words(letter.kind),
        "to": words(letter.recipient_kind),
        "channel": channel_words(letter.channel),
        "language": language_words(letter.language),
        "note": sending_note(session, letter) if letter.status == "sent" else "",
    }
