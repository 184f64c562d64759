"""Which language a letter is written in: the one asked for, else the patient's, else the centre's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracking.cases.errors import InvalidInput
from tracking.letters.kinds import CENTRE_LANGUAGE, RecipientKind


@dataclass(frozen=True)
class LanguageChoice:
    language: str
    # The patient's preferred language when no templates exist in it (the letter is then in English).
    fallback_from: str | None = None


def available_languages(letters_dir: Path) -> list[str]:
    """Languages with a folder of templates (config/letters/<language>/)."""
    if not letters_dir.is_dir():
        return []
    return sorted(path.name for path in letters_dir.iterdir() if path.is_dir() and any(path.glob("*.html")))


def choose_language(
    letters_dir: Path, *, requested: str | None, preferred: str | None, recipient: RecipientKind
) -> LanguageChoice:
    available = available_languages(letters_dir)
    if requested is not None:
        language = requested.strip().lower()
        if language not in available:
            known = ", ".join(available) or "none"
            raise InvalidInput(f"no letter templates in language {requested!r}; available: {known}")
        return LanguageChoice(language)
    if recipient is not RecipientKind.patient:
        return LanguageChoice(CENTRE_LANGUAGE)  # providers and facilities read the centre's language
    wanted = (preferred or CENTRE_LANGUAGE).strip().lower()
    for candidate in (wanted, wanted.split("-")[0]):
        if candidate in available:
            return LanguageChoice(candidate)
    return LanguageChoice(CENTRE_LANGUAGE, fallback_from=wanted)
