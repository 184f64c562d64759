"""Roles and what each may do."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracking.pathway.definition import Pathway


class Role(StrEnum):
    navigator = "navigator"
    radiologist = "radiologist"
    ops = "ops"
    read_only = "read_only"
    admin = "admin"


READ = frozenset(Role)  # every role may read cases and lists
OPEN_CASES = frozenset({Role.navigator})
MANAGE_ALERTS = frozenset({Role.navigator})
ASSIGN = frozenset({Role.navigator, Role.admin})
EXPORT = frozenset({Role.ops, Role.admin})
ADMINISTER = frozenset({Role.admin})
OPERATIONS = frozenset({Role.ops, Role.admin})  # the operations page: pipelines, outbox, runs
NAVIGATE = frozenset({Role.navigator})  # calls, notes, tasks and the patient's contact details
FACILITIES = frozenset({Role.navigator, Role.admin})  # keep the facility directory
RECORD_EVENTS = frozenset({Role.navigator, Role.radiologist})  # some events; the pathway file says which
SEND_LETTERS = frozenset({Role.navigator})  # letters to providers and facilities by fax or email
HL7_MESSAGES = frozenset({Role.navigator, Role.ops, Role.admin})  # the HL7 message log (no message content)
HL7_INBOX = frozenset({Role.navigator, Role.radiologist})  # review what the RIS sent; confirm or dismiss it
# The MQSA outcomes audit (page, CSV, PDF): radiologists review their own and each other's figures
# (case ids and counts only, no patient names), ops and admins keep it for the facility.
OUTCOMES_AUDIT = frozenset({Role.radiologist, Role.ops, Role.admin})


def may_record(role: str, event_kind: str, pathway: Pathway) -> bool:
    """Whether `role` may record `event_kind` on a case of `pathway` (each event's `recorded_by`)."""
    return role in RECORD_EVENTS and pathway.may_record(role, event_kind)


def may_record_any(role: str) -> bool:
    return role in (Role.navigator, Role.radiologist)


# Who may call each route of the web app and the API, by (method, path as the app declares it).
# The routes enforce these sets with require(...) (and may_record for the event routes);
# tests/web/test_role_matrix.py walks the app's route table, calls every route as every role and
# anonymously, and fails on any route missing here.
PUBLIC_ROUTES = frozenset({("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")})
PUBLIC_MOUNTS = frozenset({"/static"})  # the stylesheet and htmx the sign-in page needs
EVENT_ROUTES = frozenset({("POST", "/cases/{case_id}/events"), ("POST", "/api/cases/{case_id}/events")})
ROUTE_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/"): READ,
    ("POST", "/logout"): READ,
    ("GET", "/openapi.json"): READ,
    ("GET", "/api/docs"): READ,
    ("GET", "/worklist"): READ,
    ("GET", "/worklist.csv"): EXPORT,
    ("GET", "/screening"): READ,
    ("GET", "/cases/{case_id}"): READ,
    ("GET", "/cases/{case_id}/event-form"): READ,
    ("POST", "/cases/{case_id}/events"): RECORD_EVENTS,
    ("POST", "/cases/{case_id}/assign"): ASSIGN,
    ("POST", "/alerts/{alert_id}/ack"): MANAGE_ALERTS,
    ("GET", "/ops"): OPERATIONS,
    ("GET", "/team"): READ,
    ("GET", "/cases/new"): OPEN_CASES,
    ("GET", "/cases/new/patient"): OPEN_CASES,
    ("POST", "/cases"): OPEN_CASES,
    ("POST", "/cases/{case_id}/contact-details"): NAVIGATE,
    ("POST", "/cases/{case_id}/notes"): NAVIGATE,
    ("POST", "/cases/{case_id}/tasks"): NAVIGATE,
    ("POST", "/cases/{case_id}/tasks/{task_id}/close"): NAVIGATE,
    ("GET", "/facilities"): READ,
    ("POST", "/facilities"): FACILITIES,
    ("POST", "/facilities/{facility_id}"): FACILITIES,
    ("GET", "/ops/export/{name}.csv"): EXPORT,
    ("GET", "/letters"): READ,
    ("GET", "/letters/{letter_id}.pdf"): READ,  # a reprint, audited; every role may read the case it belongs to
    ("POST", "/letters/produce"): NAVIGATE,
    ("POST", "/letters/print"): NAVIGATE,
    ("POST", "/letters/sent"): NAVIGATE,
    ("POST", "/letters/{letter_id}/send"): SEND_LETTERS,
    ("GET", "/audit"): ADMINISTER,
    ("GET", "/audit.csv"): ADMINISTER,
    ("GET", "/hl7/messages"): HL7_MESSAGES,
    ("GET", "/reports/outcomes"): OUTCOMES_AUDIT,
    ("GET", "/reports/outcomes.csv"): OUTCOMES_AUDIT,
    ("GET", "/reports/outcomes.pdf"): OUTCOMES_AUDIT,
    ("POST", "/api/cases"): OPEN_CASES,
    ("GET", "/api/cases/{case_id}"): READ,
    ("POST", "/api/cases/{case_id}/events"): RECORD_EVENTS,
    ("GET", "/api/overdue"): READ,
    ("GET", "/api/screening"): READ,
    ("GET", "/api/alerts"): READ,
    ("GET", "/hl7/inbox"): HL7_INBOX,
    ("POST", "/hl7/inbox/{item_id}/confirm"): HL7_INBOX,
    ("POST", "/hl7/inbox/{item_id}/dismiss"): HL7_INBOX,
    ("POST", "/api/alerts/{alert_id}/ack"): MANAGE_ALERTS,
    ("POST", "/api/letters/{letter_id}/send"): SEND_LETTERS,
    # FHIR R4, read-only (tracking/web/routes_fhir.py): a search and a read per resource type.
    ("GET", "/fhir/metadata"): READ,
    ("GET", "/fhir/Patient"): READ,
    ("GET", "/fhir/Patient/{resource_id}"): READ,
    ("GET", "/fhir/Practitioner"): READ,
    ("GET", "/fhir/Practitioner/{resource_id}"): READ,
    ("GET", "/fhir/ServiceRequest"): READ,
    ("GET", "/fhir/ServiceRequest/{resource_id}"): READ,
    ("GET", "/fhir/Task"): READ,
    ("GET", "/fhir/Task/{resource_id}"): READ,
    ("GET", "/fhir/Observation"): READ,
    ("GET", "/fhir/Observation/{resource_id}"): READ,
    ("GET", "/fhir/DiagnosticReport"): READ,
    ("GET", "/fhir/DiagnosticReport/{resource_id}"): READ,
    ("GET", "/fhir/Communication"): READ,
    ("GET", "/fhir/Communication/{resource_id}"): READ,
}


def may_call(role: str, method: str, path: str, event_kind: str | None = None) -> bool:
    """Whether `role` may call the route (method, path template); for event routes, with that event kind."""
    if (method, path) in PUBLIC_ROUTES:
        return True
    allowed = ROUTE_ROLES.get((method, path))
    if allowed is None or role not in allowed:
        return False
    if (method, path) not in EVENT_ROUTES or event_kind is None:
        return True
    from tracking.pathway.definition import find_pathway
    from tracking.settings import get_settings

    return may_record(role, event_kind, find_pathway(get_settings().default_pathway))
