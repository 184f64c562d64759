"""Changes to a patient's identity that only a person confirms from the HL7 inbox: another name or
birth date for an MRN (ADT^A08/A31), and the merge of two MRNs into one patient (ADT^A40).
Audited with ids and field names only, never the values."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import update
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import Case, Patient
from tracking.cases.opening import EARLIEST_BIRTH_DATE, PlainText
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.patients.contact_details import ContactDetails, update_contact_details


class Identity(BaseModel):
    """A patient's name and birth date as the RIS has them, and (optionally) how to reach her."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_name: PlainText = Field(min_length=1, max_length=200)
    family_name: PlainText = Field(min_length=1, max_length=200)
    birth_date: date
    contact: ContactDetails | None = None

    @field_validator("birth_date")
    @classmethod
    def _birth_date_past(cls, value: date) -> date:
        if value > date.today() or value < EARLIEST_BIRTH_DATE:
            raise ValueError(f"birth date must be between {EARLIEST_BIRTH_DATE:%Y-%m-%d} and today")
        return value


class Merge(BaseModel):
    """ADT^A40: the prior MRN's patient is the surviving MRN's patient."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mrn: PlainText = Field(min_length=1, max_length=64)
    prior_mrn: PlainText = Field(min_length=1, max_length=64)


def update_identity(
    session: Session, patient_id: int, identity: Identity, *, actor: str, now: datetime, case_id: int | None = None
) -> list[str]:
    """Set the patient's name and birth date (and contact details when given); the fields that changed."""
    patient = session.exec(select(Patient).where(Patient.id == patient_id).with_for_update()).first()
    if patient is None:
        raise NotFound(f"patient {patient_id} does not exist")
    changed = [
        name
        for name in ("given_name", "family_name", "birth_date")
        if getattr(patient, name) != getattr(identity, name)
    ]
    for name in changed:
        setattr(patient, name, getattr(identity, name))
    if changed:
        session.add(patient)
        session.flush()
        audit(
            session,
            actor=actor,
            action="patient.identity_changed",
            at=now,
            case_id=case_id,
            patient_id=patient_id,
            fields=changed,
        )
    if identity.contact is not None:
        changed += update_contact_details(session, patient_id, identity.contact, actor=actor, now=now, case_id=case_id)
    return changed


def merge_patients(session: Session, merge: Merge, *, actor: str, now: datetime) -> Patient:
    """Make the prior MRN's patient the surviving MRN's: rename her when the surviving MRN is new
    here, else move her cases (and inbox items) to the surviving patient and remove the prior row."""
    if merge.mrn == merge.prior_mrn:
        raise InvalidInput("the surviving MRN and the prior MRN are the same")
    prior = session.exec(select(Patient).where(Patient.mrn == merge.prior_mrn).with_for_update()).first()
    if prior is None:
        raise InvalidInput("no patient here has the prior MRN: there is nothing to merge; dismiss the item instead")
    survivor = session.exec(select(Patient).where(Patient.mrn == merge.mrn).with_for_update()).first()
    if survivor is None:
        prior.mrn = merge.mrn
        session.add(prior)
        session.flush()
        audit(session, actor=actor, action="patient.merged", at=now, patient_id=prior.id, fields=["mrn"])
        return prior
    moved = list(session.exec(select(Case.id).where(Case.patient_id == prior.id)))
    session.execute(update(Case).where(col(Case.patient_id) == prior.id).values(patient_id=survivor.id))
    session.execute(update(HL7InboxItem).where(col(HL7InboxItem.patient_id) == prior.id).values(patient_id=survivor.id))
    session.delete(prior)
    session.flush()
    audit(
        session,
        actor=actor,
        action="patient.merged",
        at=now,
        patient_id=survivor.id,
        removed_patient_id=prior.id,
        case_ids=moved,
    )
    return survivor
