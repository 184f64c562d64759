"""Every code /fhir writes, in one place: code systems, the step-status table, the exams and procedures
a step orders with their CPT codes, BI-RADS in SNOMED CT, body sites, phone uses and letter channels.

Sources: shared/reference/clinical-rules.md ("Codes for interop", "Procedure codes a feed will carry")
and the FHIR R4 value sets named beside each table. Codes the product makes up itself (step kinds,
the observation kinds, density, letter kinds) are in local code systems under the server's base URL
(`FhirContext.system`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracking.letters.kinds import LetterChannel, LetterKind, LetterStatus
from tracking.pathway.vocabulary import StepStatus

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"

SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
BCP47 = "urn:ietf:bcp:47"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
TASK_STATUS_SYSTEM = "http://hl7.org/fhir/task-status"
INTERPRETER_REQUIRED = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"

# Local code systems, each at <base>/fhir/CodeSystem/<name>.
STEP_KIND = "step-kind"  # the pathway's step kinds (magnification_views, ...), displayed with the pathway's title
OBSERVATION_KIND = "observation"  # what an Observation records: BIRADS_CODE or DENSITY_CODE
BREAST_DENSITY = "breast-density"  # BI-RADS density a-d
LETTER_KIND = "letter-kind"  # tracking/letters/kinds.py LetterKind
BIRADS_CODE = "birads-assessment"
DENSITY_CODE = "breast-density"
OBSERVATION_TITLES = {BIRADS_CODE: "BI-RADS assessment category", DENSITY_CODE: "Breast density (BI-RADS)"}

# --- steps: one table for the status of a Task, of a ServiceRequest and the clinic's words -----------

# http://hl7.org/fhir/task-status (R4), for refusing a status a search names that FHIR does not have.
TASK_STATUSES = frozenset({
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold",
    "failed", "completed", "entered-in-error",
})  # fmt: skip


@dataclass(frozen=True)
class StepStatusCodes:
    task: str  # Task.status (task-status)
    service_request: str  # ServiceRequest.status (request-status)
    words: str  # Task.businessStatus.text: what a navigator calls it


STEP_STATUS: dict[StepStatus, StepStatusCodes] = {
    # Owed and not booked: action is sought from the navigator (book it, send it, read it).
    StepStatus.pending: StepStatusCodes("requested", "active", "Not done yet"),
    # Booked: the performer has agreed to a time. A missed appointment puts the step back to pending.
    StepStatus.scheduled: StepStatusCodes("accepted", "active", "Booked"),
    StepStatus.completed: StepStatusCodes("completed", "completed", "Done"),
    StepStatus.cancelled: StepStatusCodes("cancelled", "revoked", "Cancelled"),
    # Routine screening handed to the screening programme when the case closed: still owed, its
    # performer a given; the recall list tracks it until it is done.
    StepStatus.handed_off: StepStatusCodes("ready", "active", "Handed off to the screening recall list"),
}


def step_statuses_for_task(task_status: str) -> list[str]:
    """The step statuses a Task status stands for (none for a Task status no step maps to)."""
    return [step.value for step, codes in STEP_STATUS.items() if codes.task == task_status]


# --- what a step orders: the exams and procedures that are ServiceRequests -----------------------------

SERVICE_CATEGORIES = {  # ServiceRequest.category, SNOMED CT
    "imaging": ("363679005", "Imaging"),
    "biopsy": ("86273004", "Biopsy"),
    "surgery": ("387713003", "Surgical procedure"),
}
DIAGNOSTIC_MAMMOGRAM = {"left": "77065", "right": "77065", "bilateral": "77066"}  # spot-magnification views too
BREAST_ULTRASOUND_LIMITED = {"left": "76642", "right": "76642", "bilateral": "76642"}
CPT_DISPLAY = {
    "77065": "Diagnostic mammography, unilateral",
    "77066": "Diagnostic mammography, bilateral",
    "77067": "Screening mammography, bilateral",
    "76642": "Breast ultrasound, limited",
    "19081": "Stereotactic breast biopsy with clip, first lesion",
    "19083": "Ultrasound-guided breast biopsy with clip, first lesion",
    "19085": "MRI-guided breast biopsy with clip, first lesion",
}


@dataclass(frozen=True)
class Ordered:
    category: str  # a key of SERVICE_CATEGORIES; "imaging" results are DiagnosticReports
    cpt: dict[str, str] = field(default_factory=dict)  # the step's laterality -> CPT; empty: not known, text only


def every_side(code: str) -> dict[str, str]:
    return {"left": code, "right": code, "bilateral": code}


ORDERED: dict[str, Ordered] = {
    "magnification_views": Ordered("imaging", DIAGNOSTIC_MAMMOGRAM),
    "diagnostic_mammogram": Ordered("imaging", DIAGNOSTIC_MAMMOGRAM),
    "post_biopsy_mammogram": Ordered("imaging", DIAGNOSTIC_MAMMOGRAM),
    "ultrasound": Ordered("imaging", BREAST_ULTRASOUND_LIMITED),
    "targeted_ultrasound": Ordered("imaging", BREAST_ULTRASOUND_LIMITED),
    "annual_screening": Ordered("imaging", every_side("77067")),
    # The modality of a follow-up depends on the finding (mammogram, ultrasound or MRI): no one code.
    "followup_6_month": Ordered("imaging"),
    "followup_12_month": Ordered("imaging"),
    "followup_24_month": Ordered("imaging"),
    "mri_followup_6_month": Ordered("imaging"),  # 77046-77049 depend on contrast and side, not known here
    "stereotactic_biopsy": Ordered("biopsy", every_side("19081")),
    "us_guided_biopsy": Ordered("biopsy", every_side("19083")),
    "mri_biopsy": Ordered("biopsy", every_side("19085")),
    "open_surgical_biopsy": Ordered("surgery"),
    "surgical_excision": Ordered("surgery"),
}
IMAGING_KINDS = tuple(kind for kind, ordered in ORDERED.items() if ordered.category == "imaging")

# --- observations -------------------------------------------------------------------------------------

BIRADS_SNOMED = {  # clinical-rules.md; 4A, 4B and 4C are category 4, the subcategory goes in the text
    "0": "397138000",
    "1": "397140005",
    "2": "397141009",
    "3": "397143007",
    "4": "397144001",
    "4A": "397144001",
    "4B": "397144001",
    "4C": "397144001",
    "5": "397145000",
    "6": "6111000179101",
}
SNOMED_BIRADS_DISPLAY = {
    "397138000": "Mammography assessment (Category 0) - Need additional imaging evaluation",
    "397140005": "Mammography assessment (Category 1) - Negative",
    "397141009": "Mammography assessment (Category 2) - Benign finding",
    "397143007": "Mammography assessment (Category 3) - Probably benign finding, short interval follow-up",
    "397144001": "Mammography assessment (Category 4) - Suspicious abnormality, biopsy should be considered",
    "397145000": "Mammography assessment (Category 5) - Highly suggestive of malignancy",
    "6111000179101": "Mammography assessment (Category 6) - Known biopsy proven malignancy",
}
SIDE_WORDS = {"left": "left breast", "right": "right breast", "bilateral": "both breasts"}
BODY_SITE = {  # SNOMED CT body structures, from the step's or the case's laterality
    "left": ("80248007", "Left breast structure"),
    "right": ("73056007", "Right breast structure"),
    "bilateral": ("63762007", "Both breasts"),
}

# --- patients and letters -----------------------------------------------------------------------------

PHONE_USE = {"mobile": "mobile", "home": "home", "work": "work"}  # ContactPoint.use; "other" has none

LETTER_STATUS = {LetterStatus.produced: "preparation", LetterStatus.sent: "completed"}  # Communication.status
LETTER_MEDIUM = {  # v3 ParticipationMode
    LetterChannel.print_post: ("MAILWRIT", "mail"),
    LetterChannel.fax: ("FAXWRIT", "fax"),
    LetterChannel.email: ("EMAILWRIT", "email"),
    LetterChannel.portal: ("ONLINEWRIT", "online written"),
}
LETTER_WORDS = {
    LetterKind.result: "Result letter (lay summary)",
    LetterKind.referrer_report: "Report to the referring provider",
    LetterKind.prior_film_request: "Request for prior mammograms",
    LetterKind.missed_appointment: "Missed-appointment letter",
    LetterKind.final_missed_appointment: "Final missed-appointment letter",
    LetterKind.followup_reminder: "Follow-up reminder",
}
