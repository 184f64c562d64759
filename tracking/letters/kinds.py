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
