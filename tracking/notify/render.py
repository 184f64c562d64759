"""Turn an outbox row into a message. Subjects and webhook payloads carry ids only, never PHI.

The one exception is the body of an email to an outside facility asking for prior films: the
facility cannot find the films without the patient's name, birth date and our reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from tracking.alerts.stuck_work import CASE_ALERT_NOTICES, notice_headline
from tracking.cases.models import Case, OutsideFacility, Patient, Step
from tracking.notify.models import Notification
from tracking.settings import get_settings

SUBJECTS = {
    "overdue_alert": "Case {case_id}: {step} overdue (alert level {level})",
    "alert_escalated": "Case {case_id}: {step} still overdue, escalated to level {level}",
    "prior_film_request": "Request for prior mammograms, reference {reference}",
    "prior_film_chase": "Reminder {attempt}: prior mammograms, reference {reference}",
    "prior_film_escalation": "Case {case_id}: prior films from {facility} still missing after {days} days",
    "prior_film_manual": "Case {case_id}: contact {facility} by {channel} for prior films ({purpose})",
    "result_letter_due": "Case {case_id}: result letter due by {due}",
    "event_warning": "Case {case_id}: please review the {event}",
    "followup_reminder": "Case {case_id}: {step} coming up on {target}",
    "contact_letter": "Case {case_id}: letter to the patient about a missed {step}",
    "delivery_failed_alert": "Case {case_id}: {headline}",
    "run_stalled_alert": "Case {case_id}: {headline}",
    "case_stalled_alert": "{headline}",  # the headline names the case
    "corrected_result_alert": "Case {case_id}: a corrected result needs review",
    "letter_unsent_alert": "Case {case_id}: a letter produced is not marked sent yet",
}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    webhook_payload: dict[str, Any]
    attachments: tuple[Attachment, ...] = ()
    # Carries patient data (a letter): sent only over STARTTLS or implicit TLS, never over plain SMTP.
    phi: bool = False


def words(value: Any) -> str:
    return str(value).replace("_", " ") if value is not None else ""


def render(session: Session, notification: Notification) -> Message:
    payload = dict(notification.payload)
    facts: dict[str, Any] = {key: words(value) for key, value in payload.items()}
    facts["case_id"] = notification.case_id
    facts.setdefault("reference", f"BW-{notification.case_id}-{notification.facility_id or 0}")
    if notification.kind in CASE_ALERT_NOTICES:
        facts["headline"] = notice_headline(notification.kind, payload, notification.case_id)
    if notification.step_id is not None and "step" not in payload:
        step = session.get(Step, notification.step_id)
        facts["step"] = words(step.kind) if step else "step"
    subject = SUBJECTS.get(notification.kind, "Case {case_id}: {kind}").format_map(_Defaults(facts, notification))
    link = f"{get_settings().base_url}/cases/{notification.case_id}" if notification.case_id else ""
    lines = [subject, ""]
    if notification.kind in ("prior_film_request", "prior_film_chase") and notification.channel == "email":
        lines += _facility_request_body(session, notification, facts)
    else:
        lines += [f"{words(key).capitalize()}: {value}" for key, value in sorted(facts.items()) if key != "case_id"]
        if link:
            lines += ["", f"Open the case: {link}"]
    webhook = {
        "notification_id": notification.id,
        "kind": notification.kind,
        "case_id": notification.case_id,
        "step_id": notification.step_id,
        "alert_id": notification.alert_id,
        **payload,
    }
    return Message(subject=subject, body="\n".join(lines) + "\n", webhook_payload=webhook)


def _facility_request_body(session: Session, notification: Notification, facts: dict[str, Any]) -> list[str]:
    case = session.get(Case, notification.case_id)
    patient = session.get(Patient, case.patient_id)
    facility = session.get(OutsideFacility, notification.facility_id)
    return [
        f"To {facility.name if facility else 'the records department'}:",
        "",
        "Please send the prior mammograms (images and reports) you hold for this patient, for comparison",
        "with a current diagnostic workup:",
        "",
        f"  Patient: {patient.given_name} {patient.family_name}",
        f"  Date of birth: {patient.birth_date:%Y-%m-%d}",
        f"  Our reference: {facts['reference']}",
        "",
        "If you hold no images for this patient, please reply saying so, so that we stop asking.",
    ]


class _Defaults(dict):
    def __init__(self, facts: dict[str, Any], notification: Notification):
        super().__init__(facts)
        self.notification = notification

    def __missing__(self, key: str) -> str:
        return self.notification.kind if key == "kind" else "?"
