"""open_case: register the patient and finding, and start the pathway's immediate steps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlmodel import Session, select

from tracking.cases.applying import EventRow, apply_decision
from tracking.cases.errors import GuardRefused, IdempotencyKeyReused, InvalidInput
from tracking.cases.models import Case, CaseEvent, OutsideFacility, Patient, Step
from tracking.cases.pathway_versions import ensure_registered
from tracking.cases.state import (
    clean_idempotency_key,
    event_by_key,
    jsonable,
    lock_idempotency_key,
    request_hash,
    same_request_or_refuse,
)
from tracking.notify.contacts import InvalidContact, validate_contact
from tracking.pathway.decision import OpeningFacts, Refusal
from tracking.pathway.definition import find_pathway, pathway_for
from tracking.pathway.engine import CLOCK_SKEW, plan_opening
from tracking.pathway.fields import (
    FREE_TEXT_PATTERN,
    NO_CONTROL_PATTERN,
    FieldRefused,
    free_text,
    parse_moment,
    plain_text,
)
from tracking.pathway.vocabulary import (
    CaseStatus,
    Density,
    EventKind,
    FacilityChannel,
    FindingType,
    Laterality,
)
from tracking.patients.contact_details import ContactDetails, apply_contact_details, update_contact_details
from tracking.settings import get_settings

EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# Names and one-line values: no control characters (NUL included); the pattern shows in OpenAPI.
PlainText = Annotated[str, AfterValidator(plain_text), Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN})]
# A postal address may span lines; other control characters are refused.
FreeText = Annotated[str, AfterValidator(free_text), Field(json_schema_extra={"pattern": FREE_TEXT_PATTERN})]


class FacilityRef(BaseModel):
    """An outside facility by name; channel and contact create it when it is new."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=200)
    channel: FacilityChannel | None = None
    contact: str | None = Field(
        default=None, max_length=500, json_schema_extra={"pattern": FREE_TEXT_PATTERN}
    )  # checked with the facility named, below

    @model_validator(mode="after")
    def _contact_deliverable(self) -> FacilityRef:
        """A contact that could never be delivered to is refused here (tracking/notify/contacts.py)."""
        if self.channel is not None and self.contact is not None:
            try:
                self.contact = validate_contact(self.channel, self.contact)
            except InvalidContact as error:
                raise PydanticCustomError(
                    "invalid_contact", "{message}", {"message": f"facility {self.name!r}: {error}"}
                ) from None
        if self.contact is not None:
            try:
                free_text(self.contact)
            except ValueError as error:
                raise PydanticCustomError(
                    "invalid_contact", "{message}", {"message": f"facility {self.name!r}: the contact {error}"}
                ) from None
        return self


class CaseOpening(BaseModel):
    """What a navigator records to open a case."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mrn: PlainText = Field(min_length=1, max_length=64)
    given_name: PlainText = Field(min_length=1, max_length=200)
    family_name: PlainText = Field(min_length=1, max_length=200)
    birth_date: date = Field(description="On or after 1900-01-01 and not in the future")
    finding_type: FindingType = FindingType.calcifications
    laterality: Laterality
    density: Density
    birads: PlainText = Field(default="0", min_length=1, max_length=2)
    facilities: list[FacilityRef] = Field(default_factory=list, max_length=20)
    palpable: bool = Field(
        default=False, description="A palpable lump: negative imaging then owes a clinical follow-up"
    )
    pathway: PlainText | None = Field(
        default=None, max_length=80, description="Unset: the pathway whose file lists the finding type"
    )
    occurred_at: datetime | None = Field(
        default=None,
        description="When the exam that found it took place (ISO 8601 with a time zone); due dates count from it. "
        "Default now; not in the future, not more than WORKUP_OPENING_MAX_AGE_DAYS (default 365) days back",
    )
    contact: ContactDetails | None = Field(
        default=None,
        description="How to reach her. A new patient gets these details; a known patient's stored details are "
        "replaced by them (audited). Unset: a known patient's details stay as they are",
    )

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _occurred_at_with_zone(cls, value: object) -> datetime | None:
        """ISO 8601 with a time zone, read as UTC (tracking/pathway/fields.py); how far back is checked on opening."""
        if value is None:
            return None
        try:
            return parse_moment(value, "the exam date-time")
        except FieldRefused as refused:
            raise PydanticCustomError("invalid_moment", "{message}", {"message": str(refused.refusal)}) from None

    @field_validator("birads")
    @classmethod
    def _birads_upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("birth_date")
    @classmethod
    def _birth_date_past(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("birth date is in the future")
        if value < EARLIEST_BIRTH_DATE:
            raise ValueError(f"birth date is before {EARLIEST_BIRTH_DATE:%Y-%m-%d}")
        return value


@dataclass
class OpenedCase:
    case_id: int
    event_id: int
    step_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replayed: bool = False


def open_case(
    session: Session,
    opening: CaseOpening,
    *,
    actor: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> OpenedCase:
    """Open a case and create the pathway's immediate steps, in the caller's transaction.

    A repeated idempotency key with the same opening (see `opening_hash`) returns the first result;
    with a different opening, or a key first used for an event, it raises IdempotencyKeyReused.
    """
    idempotency_key = clean_idempotency_key(idempotency_key)
    this_request = opening_hash(opening) if idempotency_key else None
    if idempotency_key:
        lock_idempotency_key(session, idempotency_key)
        existing = event_by_key(session, idempotency_key)
        if existing is not None:
            if existing.kind != EventKind.case_opened:
                raise IdempotencyKeyReused(
                    f"idempotency key {idempotency_key!r} was already used for a {existing.kind} event on case "
                    f"{existing.case_id}; nothing was saved: send a new key for a new request",
                    key=idempotency_key,
                )
            same_request_or_refuse(
                existing, idempotency_key, this_request, first_use=f"to open case {existing.case_id}"
            )
            return _replay(session, existing)
    exam = exam_moment(opening, now)  # due dates count from the exam; recorded_at stays `now`
    try:
        pathway = find_pathway(opening.pathway) if opening.pathway else pathway_for(opening.finding_type)
    except LookupError as exc:
        raise InvalidInput(str(exc)) from None
    ensure_registered(session, pathway, now)
    facilities = [_facility(session, ref) for ref in opening.facilities]
    facility_ids = tuple(dict.fromkeys(facility.id for facility in facilities))
    decision = plan_opening(
        pathway,
        OpeningFacts(
            finding_type=opening.finding_type,
            laterality=opening.laterality,
            density=opening.density,
            birads=opening.birads,
            facility_ids=facility_ids,
            palpable=opening.palpable,
        ),
        exam,
    )
    if isinstance(decision, Refusal):
        raise GuardRefused(decision)
    patient, known = _patient(session, opening, now)
    case = Case(
        patient_id=patient.id,
        finding_type=opening.finding_type,
        laterality=opening.laterality,
        density=opening.density,
        birads=opening.birads,
        pathway_name=pathway.name,
        pathway_version=pathway.version,
        pathway_hash=pathway.content_hash,
        palpable=opening.palpable,
        status=CaseStatus.open,
        opened_at=exam,
    )
    session.add(case)
    session.flush()
    if known and opening.contact is not None and patient.id is not None:  # replaced, audited (field names only)
        update_contact_details(session, patient.id, opening.contact, actor=actor, now=now, case_id=case.id)
        session.flush()  # its audit rows before the opening's, as they always were
    opened = EventRow(
        kind=EventKind.case_opened,
        payload=jsonable(
            {
                "finding_type": opening.finding_type,
                "laterality": opening.laterality,
                "density": opening.density,
                "birads": opening.birads,
                "facility_ids": list(facility_ids),
                "palpable": opening.palpable,
                "pathway": f"{pathway.name}@{pathway.version}",
            }
        ),
        outcome=jsonable(decision.summary()),
        actor=actor,
        occurred_at=exam,
        recorded_at=now,
        idempotency_key=idempotency_key or f"auto:{uuid.uuid4()}",
        request_hash=this_request,
    )
    applied = apply_decision(
        session, case, (), opened, decision, version=case.version, run_reason="case_opened",
        audit_action="case.opened", audit_detail={}, now=now,
    )  # fmt: skip
    return OpenedCase(case.id, applied.event_id, applied.created_step_ids, list(decision.warnings))


def exam_moment(opening: CaseOpening, now: datetime) -> datetime:
    """When the exam was (`occurred_at`), or `now`; InvalidInput when it is in the future or too far back."""
    if opening.occurred_at is None:
        return now
    exam, limit = opening.occurred_at, get_settings().opening_max_age_days
    if exam > now + CLOCK_SKEW:
        raise InvalidInput(
            f"occurred_at {exam:%Y-%m-%d %H:%M} UTC is in the future (now is {now:%Y-%m-%d %H:%M} UTC, "
            f"{CLOCK_SKEW.seconds // 60} minutes of clock difference allowed); nothing was saved"
        )
    if exam < now - timedelta(days=limit):
        raise InvalidInput(
            f"occurred_at {exam:%Y-%m-%d %H:%M} UTC is more than {limit} days ago (WORKUP_OPENING_MAX_AGE_DAYS); "
            "nothing was saved"
        )
    return exam


def opening_hash(opening: CaseOpening) -> str:
    """What makes two openings "the same request" under one idempotency key: the validated fields.

    After validation (names and MRN stripped, BI-RADS upper-cased, contacts normalised), every field
    counts, defaults included; who sends it and when does not. So a retry from the CLI, a JSON file
    or the API with the same content replays, and any changed field is refused. `occurred_at` counts
    as the instant in UTC whatever its notation; left out, it stays out, `contact` too, and `palpable`
    counts only when true (hashes stored before these fields existed still match).
    """
    later_fields = {name for name in ("occurred_at", "contact") if getattr(opening, name) is None}
    if not opening.palpable:
        later_fields.add("palpable")
    dumped = opening.model_dump(mode="json", exclude=later_fields or None)
    return request_hash({"request": "open_case", "opening": dumped})


def _replay(session: Session, event: CaseEvent) -> OpenedCase:
    step_ids = session.exec(select(Step.id).where(Step.created_by_event_id == event.id).order_by(Step.id))
    return OpenedCase(event.case_id, event.id, list(step_ids), list(event.outcome.get("warnings", [])), True)


def _patient(session: Session, opening: CaseOpening, now: datetime) -> tuple[Patient, bool]:
    """The patient with this MRN and True (known), or a new one with the opening's contact details and False.
    A known MRN with another name or birth date is refused."""
    patient = session.exec(select(Patient).where(Patient.mrn == opening.mrn)).first()
    if patient is None:
        patient = Patient(
            mrn=opening.mrn,
            given_name=opening.given_name,
            family_name=opening.family_name,
            birth_date=opening.birth_date,
        )
        if opening.contact is not None:
            apply_contact_details(patient, opening.contact)
            patient.contact_updated_at = now
        session.add(patient)
        session.flush()
        return patient, False
    same = (
        patient.given_name.casefold() == opening.given_name.casefold()
        and patient.family_name.casefold() == opening.family_name.casefold()
        and patient.birth_date == opening.birth_date
    )
    if not same:
        raise InvalidInput("this MRN already belongs to a patient with a different name or birth date; check the MRN")
    return patient, True


def _facility(session: Session, ref: FacilityRef) -> OutsideFacility:
    facility = session.exec(select(OutsideFacility).where(OutsideFacility.name == ref.name)).first()
    if facility is not None:
        return facility
    if ref.channel is None or not ref.contact:
        raise InvalidInput(f"outside facility {ref.name!r} is not known; give its channel and contact to add it")
    facility = OutsideFacility(name=ref.name, channel=ref.channel, contact=ref.contact)
    session.add(facility)
    session.flush()
    return facility
