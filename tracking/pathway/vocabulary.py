"""The clinic's words: every enumeration the pathway, the database and the CLI share."""

from __future__ import annotations

from enum import StrEnum


class Laterality(StrEnum):
    left = "left"
    right = "right"
    bilateral = "bilateral"


class Density(StrEnum):
    """BI-RADS breast density: a fatty, b scattered, c heterogeneously dense, d extremely dense."""

    a = "a"
    b = "b"
    c = "c"
    d = "d"


# What each density and BI-RADS assessment category means, as people read them (the recall form,
# the texts of FHIR Observations).
DENSITY_WORDS = {
    "a": "almost entirely fatty",
    "b": "scattered areas of fibroglandular density",
    "c": "heterogeneously dense",
    "d": "extremely dense",
}
BIRADS_WORDS = {
    "0": "incomplete, needs more imaging",
    "1": "negative",
    "2": "benign",
    "3": "probably benign",
    "4A": "low suspicion of malignancy",
    "4B": "moderate suspicion of malignancy",
    "4C": "high suspicion of malignancy",
    "5": "highly suggestive of malignancy",
    "6": "known biopsy-proven malignancy",
}


class FindingType(StrEnum):
    """BI-RADS mammography lexicon findings; the pathway files say which pathway works each up."""

    calcifications = "calcifications"
    mass = "mass"
    asymmetry = "asymmetry"
    focal_asymmetry = "focal_asymmetry"
    global_asymmetry = "global_asymmetry"
    developing_asymmetry = "developing_asymmetry"
    architectural_distortion = "architectural_distortion"


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"
    lost_to_follow_up = "lost_to_follow_up"


class StepStatus(StrEnum):
    pending = "pending"
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"
    handed_off = "handed_off"  # routine screening handed to the screening programme at case close

    @property
    def is_open(self) -> bool:
        return self in (StepStatus.pending, StepStatus.scheduled)


OPEN_STEP_STATUSES = (StepStatus.pending.value, StepStatus.scheduled.value)


class StepKind(StrEnum):
    magnification_views = "magnification_views"
    ultrasound = "ultrasound"
    prior_film_request = "prior_film_request"
    final_assessment = "final_assessment"
    result_letter = "result_letter"
    annual_screening = "annual_screening"
    stereotactic_biopsy = "stereotactic_biopsy"
    open_surgical_biopsy = "open_surgical_biopsy"
    rad_path_concordance = "rad_path_concordance"
    surgical_consultation = "surgical_consultation"
    followup_6_month = "followup_6_month"
    followup_12_month = "followup_12_month"
    followup_24_month = "followup_24_month"
    patient_contact = "patient_contact"


class EventKind(StrEnum):
    case_opened = "case_opened"
    magnification_result = "magnification_result"
    assessment = "assessment"
    ultrasound_result = "ultrasound_result"
    prior_films_received = "prior_films_received"
    prior_films_unobtainable = "prior_films_unobtainable"
    biopsy_scheduled = "biopsy_scheduled"
    stereotactic_infeasible = "stereotactic_infeasible"
    biopsy_performed = "biopsy_performed"
    pathology_result = "pathology_result"
    repeat_biopsy_ordered = "repeat_biopsy_ordered"
    surgical_consultation_done = "surgical_consultation_done"
    followup_imaging_result = "followup_imaging_result"
    result_letter_sent = "result_letter_sent"
    screening_done = "screening_done"
    appointment_missed = "appointment_missed"
    contact_attempt = "contact_attempt"
    lost_to_follow_up_declared = "lost_to_follow_up_declared"
    appointment_booked = "appointment_booked"


class Disposition(StrEnum):
    returned_to_screening = "returned_to_screening"
    referred_to_surgery = "referred_to_surgery"


class PriorFilmStatus(StrEnum):
    requested = "requested"
    received = "received"
    unobtainable = "unobtainable"


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class AlertKind(StrEnum):
    overdue_step = "overdue_step"  # a workup step is past its due time
    delivery_failed = "delivery_failed"  # a notification was dead-lettered: its receiver never got it
    run_stalled = "run_stalled"  # a case's run request has waited longer than the configured limit
    case_stalled = "case_stalled"  # an open or lost case with no open dated step and no other open alert
    corrected_result = "corrected_result"  # the RIS corrected a result after the final one was recorded (HL7)
    letter_unsent = "letter_unsent"  # a produced letter not marked sent by its deadline


class HL7InboxKind(StrEnum):
    """What a person is asked to confirm about a received HL7 message (tracking/hl7/inbox.py)."""

    record_event = "record_event"  # record the prefilled event on a case
    open_case = "open_case"  # open the proposed case (a diagnostic order for a patient with no case)
    link_accession = "link_accession"  # link an order's accession number to a step
    update_contact_details = "update_contact_details"  # the RIS's phones, address, language for a patient
    update_demographics = "update_demographics"  # the RIS has another name or birth date for an MRN
    merge_patients = "merge_patients"  # ADT^A40: two MRNs are one patient
    review = "review"  # nothing to apply (a cancelled order or appointment): seen and decided by a person


class HL7InboxStatus(StrEnum):
    open = "open"
    confirmed = "confirmed"
    dismissed = "dismissed"


class CaseRunStatus(StrEnum):
    pending = "pending"
    done = "done"
    failed = "failed"


class NotificationStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"  # gave up after the configured attempts; shown to operations


class NotificationChannel(StrEnum):
    email = "email"
    webhook = "webhook"


class FacilityChannel(StrEnum):
    email = "email"
    webhook = "webhook"
    fax = "fax"
    phone = "phone"
    post = "post"


def check_values(enum: type[StrEnum]) -> str:
    """SQL list of an enumeration's values, for CHECK constraints."""
    return ", ".join(f"'{member.value}'" for member in enum)
