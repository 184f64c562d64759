"""The letters a centre sends: their kinds, who receives each, the channels, and a letter's status."""

from __future__ import annotations

from enum import StrEnum


class LetterKind(StrEnum):
    result = "result"  # the patient's lay summary (MQSA), with the density statement
    referrer_report = "referrer_report"  # the report to the referring provider
    prior_film_request = "prior_film_request"  # to an outside facility holding prior mammograms
    missed_appointment = "missed_appointment"
    final_missed_appointment = "final_missed_appointment"  # the last letter before "lost": certified mail
    followup_reminder = "followup_reminder"  # BI-RADS 3 short-interval follow-up


class RecipientKind(StrEnum):
    patient = "patient"
    referrer = "referrer"
    facility = "facility"


class LetterChannel(StrEnum):
    print_post = "print_post"
    fax = "fax"
    email = "email"
    portal = "portal"


class LetterStatus(StrEnum):
    produced = "produced"
    sent = "sent"


RECIPIENT = {
    LetterKind.result: RecipientKind.patient,
    LetterKind.referrer_report: RecipientKind.referrer,
    LetterKind.prior_film_request: RecipientKind.facility,
    LetterKind.missed_appointment: RecipientKind.patient,
    LetterKind.final_missed_appointment: RecipientKind.patient,
    LetterKind.followup_reminder: RecipientKind.patient,
}

# How a facility's film requests travel (tracking/pathway/vocabulary.py FacilityChannel) -> the letter's channel.
FACILITY_CHANNEL = {"fax": LetterChannel.fax, "email": LetterChannel.email}
DEFAULT_CHANNEL = {RecipientKind.patient: LetterChannel.print_post, RecipientKind.referrer: LetterChannel.fax}

# Letters to providers and facilities are written in the centre's language unless one is asked for.
CENTRE_LANGUAGE = "en"

# A letter's kind as people read it: on pages, in the CLI, in alert headlines.
KIND_WORDS: dict[str, str] = {
    LetterKind.result: "lay summary",
    LetterKind.referrer_report: "report to the referring provider",
    LetterKind.prior_film_request: "prior-film request",
    LetterKind.missed_appointment: "missed-appointment letter",
    LetterKind.final_missed_appointment: "final missed-appointment letter (certified mail)",
    LetterKind.followup_reminder: "follow-up reminder",
}


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


CHANNEL_WORDS: dict[str, str] = {LetterChannel.print_post: "print and post", LetterChannel.fax: "fax",
                 LetterChannel.email: "email", LetterChannel.portal: "patient portal"}  # fmt: skip
LANGUAGE_WORDS = {"en": "English", "es": "Spanish"}


def channel_words(channel: str) -> str:
    return CHANNEL_WORDS.get(channel, channel.replace("_", " "))


def language_words(language: str) -> str:
    return LANGUAGE_WORDS.get(language, language)
