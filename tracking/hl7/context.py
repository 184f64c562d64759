"""What every message handler shares: the message, the mapping, who the patient is, and the three
ways a message ends (applied, queued in the inbox, ignored), each with plain words for the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from tracking.cases.errors import InvalidInput, WorkupError
from tracking.cases.models import Case, Patient
from tracking.cases.recording import RecordedEvent, record_event
from tracking.hl7.inbox import Proposal, queue_item
from tracking.hl7.interpretation import Interpretation, MessageOutcome
from tracking.hl7.mapping import Mapping, code
from tracking.hl7.reading import Reader, hl7_moment
from tracking.pathway.vocabulary import CaseStatus, HL7InboxKind

ACTIVE_CASE = (CaseStatus.open.value, CaseStatus.lost_to_follow_up.value)
# Proposals about a person's identity or contact details: their reasons stay out of the message log.
PERSONAL = (
    HL7InboxKind.open_case,
    HL7InboxKind.update_contact_details,
    HL7InboxKind.update_demographics,
    HL7InboxKind.merge_patients,
)


@dataclass(frozen=True)
class Identified:
    """Who PID-3 names: the MRN from the mapped authority (None when absent) and her row if known."""

    mrn: str | None
    patient: Patient | None
    problem: str | None = None  # why no MRN could be read (none, or two different ones)


@dataclass
class Context:
    session: Session
    reader: Reader
    mapping: Mapping
    message_id: int
    actor: str  # "hl7:<sender>": who recorded what the interface applied
    now: datetime
    notes: list[str] = field(default_factory=list)

    # --- writing ----------------------------------------------------------------------------------
    def record(
        self, case_id: int, event_kind: str, payload: dict[str, Any], occurred_at: datetime | None = None
    ) -> RecordedEvent | WorkupError:
        """record_event in a savepoint, as the interface: a refusal leaves nothing behind and comes
        back as the error; the message's id keys it, so the same message never records it twice."""
        try:
            with self.session.begin_nested():
                return record_event(
                    self.session,
                    case_id,
                    event_kind,
                    payload,
                    actor=self.actor,
                    now=self.now,
                    occurred_at=occurred_at,
                    idempotency_key=f"hl7:{self.message_id}:{event_kind}",
                )
        except WorkupError as refused:
            return refused

    # --- outcomes ---------------------------------------------------------------------------------
    def applied(self, detail: str, case_id: int | None = None) -> Interpretation:
        return Interpretation(MessageOutcome.applied, detail, case_id=case_id)

    def ignored(self, detail: str, case_id: int | None = None) -> Interpretation:
        return Interpretation(MessageOutcome.ignored, detail, case_id=case_id)

    def queue(self, proposal: Proposal) -> Interpretation:
        """Keep the proposal in the HL7 inbox for a person; the message's outcome is "queued".

        The log's detail carries the reason, except for proposals about a person's details (their
        reasons may name what does not validate), which the inbox item keeps."""
        item_id = queue_item(self.session, proposal, message_id=self.message_id, actor=self.actor, now=self.now)
        detail = f"queued for review (inbox item {item_id}, {proposal.kind.replace('_', ' ')})"
        if proposal.kind not in PERSONAL:
            detail += f": {proposal.reason}"
        return Interpretation(MessageOutcome.queued, detail[:1000], case_id=proposal.case_id, inbox_item_id=item_id)

    def review(
        self,
        reason: str,
        *,
        case_id: int | None = None,
        patient: Identified | None = None,
        details: dict[str, Any] | None = None,
    ) -> Interpretation:
        """Queue something with nothing to apply: a person looks at it and confirms they have."""
        return self.queue(
            Proposal(
                HL7InboxKind.review,
                reason,
                case_id=case_id,
                patient_id=patient.patient.id if patient and patient.patient else None,
                details=self.details(patient, details),
            )
        )

    def details(self, patient: Identified | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a person needs to judge an inbox item: the message's type and control id, who the
        message names (PID: shown on the review page, never logged), and `extra`."""
        found: dict[str, Any] = {
            "message_type": self.reader.message_type(),
            "control_id": self.reader.control_id()[:60],
        }
        pid = self.reader.first("PID")
        if pid is not None:
            found["patient"] = {
                "mrn": patient.mrn if patient else None,
                "family_name": self.reader.value(pid, 5, 1)[:200],
                "given_name": self.reader.value(pid, 5, 2)[:200],
                "birth_date": self.reader.value(pid, 7, 1)[:8],
            }
        if self.notes:
            found["notes"] = list(self.notes)
        return found | (extra or {})

    # --- the patient ------------------------------------------------------------------------------
    def identify(self) -> Identified:
        """The MRN: the PID-3 repetition whose assigning authority (CX-4) and type (CX-5) the mapping names."""
        pid = self.reader.first("PID")
        return self.identify_in(pid, 3)

    def identify_in(self, segment: Any, number: int) -> Identified:
        found: list[str] = []
        for parts in self.reader.repetitions(segment, number):
            identifier = parts[0].strip() if parts else ""
            authority = code(parts[3]) if len(parts) > 3 else ""
            kind = code(parts[4]) if len(parts) > 4 else ""
            if not identifier or authority not in self.mapping.authorities:
                continue
            if self.mapping.identifier_types and kind not in self.mapping.identifier_types:
                continue
            if identifier not in found:
                found.append(identifier)
        if not found:
            authorities = ", ".join(sorted(self.mapping.authorities))
            return Identified(None, None, f"the message carries no patient identifier from {authorities}")
        if len(found) > 1:
            return Identified(None, None, "the message carries two different MRNs from the same authority")
        mrn = found[0][:64]
        patient = self.session.exec(select(Patient).where(Patient.mrn == mrn)).first()
        return Identified(mrn, patient)

    def active_cases(self, patient: Patient | None) -> list[Case]:
        if patient is None:
            return []
        query = select(Case).where(Case.patient_id == patient.id, Case.status.in_(ACTIVE_CASE)).order_by(Case.id)  # type: ignore[attr-defined]
        return list(self.session.exec(query))

    # --- times ------------------------------------------------------------------------------------
    def moment(self, value: str, what: str) -> tuple[datetime | None, str | None]:
        """An HL7 time, or None and why it could not be read."""
        try:
            return hl7_moment(value, what), None
        except InvalidInput as error:
            return None, str(error)
