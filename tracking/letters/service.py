"""Produce a letter (render it and record it), render a recorded letter again, mark one sent.

Each runs in the caller's transaction and is audited with ids only (tracking/audit.py): never the
patient's name, never the letter's inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlmodel import Session, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case, Patient
from tracking.letters.inputs import gather
from tracking.letters.kinds import DEFAULT_CHANNEL, FACILITY_CHANNEL, RECIPIENT, LetterChannel, LetterKind, LetterStatus
from tracking.letters.language import choose_language
from tracking.letters.marking import mark_sent
from tracking.letters.models import Letter
from tracking.letters.templates import render_html, render_pdf
from tracking.settings import Settings, get_settings

Choice = TypeVar("Choice", bound=StrEnum)


def _one_of(choices: type[Choice], value: str, what: str) -> Choice:
    try:
        return choices(value)
    except ValueError:
        known = ", ".join(choice.value for choice in choices)
        raise InvalidInput(f"unknown {what} {value!r}; known: {known}") from None


def letter_kind(value: str) -> LetterKind:
    return _one_of(LetterKind, value, "letter kind")


def letter_channel(value: str) -> LetterChannel:
    return _one_of(LetterChannel, value, "letter channel")


def render_letter(inputs: dict[str, Any], settings: Settings | None = None) -> bytes:
    """The PDF for a letter's inputs (which name its kind and language)."""
    letters_dir = (settings or get_settings()).letters_dir
    return render_pdf(letters_dir, render_html(letters_dir, inputs))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def produce_letter(
    session: Session,
    case_id: int,
    kind: str,
    *,
    language: str | None = None,
    actor: str,
    now: datetime,
    facility_id: int | None = None,
    channel: str | None = None,
    settings: Settings | None = None,
) -> tuple[Letter, bytes]:
    """Render the letter and record it (inputs and the PDF's SHA-256), in the caller's transaction.

    The language is `language` when given, else the patient's preferred language for her letters
    (English when no templates exist in it: `letter.inputs["language_fallback_from"]` says so), and
    English for providers and facilities."""
    settings = settings or get_settings()
    letter_type = letter_kind(kind)
    chosen_channel = letter_channel(channel) if channel is not None else None
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    patient = session.get(Patient, case.patient_id)
    if patient is None:
        raise NotFound(f"case {case_id} has no patient")
    recipient = RECIPIENT[letter_type]
    choice = choose_language(
        settings.letters_dir, requested=language, preferred=patient.preferred_language, recipient=recipient
    )
    gathered = gather(session, case, patient, letter_type, choice.language, now, settings, facility_id=facility_id)
    if choice.fallback_from:
        gathered.inputs["language_fallback_from"] = choice.fallback_from
    if chosen_channel is None:
        chosen_channel = FACILITY_CHANNEL.get(gathered.facility_channel or "") or DEFAULT_CHANNEL.get(
            recipient, LetterChannel.print_post
        )
    if chosen_channel is LetterChannel.print_post and recipient.value == "patient" and not patient.address:
        raise InvalidInput(
            f"case {case_id}: the patient has no postal address; add one before printing a letter to post"
        )
    pdf = render_letter(gathered.inputs, settings)
    letter = Letter(
        case_id=case_id,
        kind=letter_type.value,
        language=choice.language,
        recipient_kind=recipient.value,
        facility_id=gathered.facility_id,
        step_id=gathered.step_id,
        channel=chosen_channel.value,
        status=LetterStatus.produced.value,
        produced_by=actor,
        produced_at=now,
        inputs=gathered.inputs,
        pdf_sha256=sha256(pdf),
    )
    session.add(letter)
    session.flush()
    audit(session, actor=actor, action="letter.produced", at=now, case_id=case_id, letter_id=letter.id,
          kind=letter.kind, language=letter.language, channel=letter.channel)  # fmt: skip
    return letter, pdf


def produce_due_letter(
    session: Session,
    case_id: int,
    kind: str,
    *,
    actor: str,
    now: datetime,
    language: str | None = None,
    channel: str | None = None,
) -> tuple[Letter, bytes]:
    """Produce a letter the case owes, once: refused while a letter of that kind for the case is
    produced and not yet sent (print that one, or mark it sent). The case's row lock makes two
    clicks, or two navigators, produce one letter."""
    letter_kind(kind)
    if session.exec(select(Case.id).where(Case.id == case_id).with_for_update()).first() is None:
        raise NotFound(f"case {case_id} does not exist")
    waiting = session.exec(
        select(Letter.id).where(Letter.case_id == case_id, Letter.kind == kind, Letter.status == LetterStatus.produced)
    ).first()
    if waiting is not None:
        raise InvalidInput(
            f"letter {waiting} for case {case_id} is already produced and not sent: print it from the list, "
            "or mark it sent"
        )
    return produce_letter(session, case_id, kind, language=language, actor=actor, now=now, channel=channel)


@dataclass(frozen=True)
class Reprint:
    letter: Letter
    pdf: bytes
    same_as_recorded: bool  # False: the templates or settings changed since; this copy differs


def reprint_letter(
    session: Session, letter_id: int, *, actor: str, now: datetime, settings: Settings | None = None
) -> Reprint:
    """Render a recorded letter again from its stored inputs and check the bytes against its hash. Audited."""
    letter = session.get(Letter, letter_id)
    if letter is None:
        raise NotFound(f"letter {letter_id} does not exist")
    pdf = render_letter(letter.inputs, settings)
    same = sha256(pdf) == letter.pdf_sha256
    audit(session, actor=actor, action="letter.reprinted", at=now, case_id=letter.case_id, letter_id=letter.id,
          same_as_recorded=same)  # fmt: skip
    return Reprint(letter, pdf, same)


def mark_letter_sent(session: Session, letter_id: int, *, actor: str, now: datetime) -> Letter:
    """Record that a produced letter went out; a lay summary also completes its result-letter step
    and records the density statement (tracking/letters/marking.py, which says what it did). Audited."""
    return mark_sent(session, letter_id, actor=actor, now=now).letter
