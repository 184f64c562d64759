"""How to reach a patient: phones, address, language, interpreter, messages, her providers.

Navigators edit these; every change is audited (which fields changed, never their values: the
audit log holds ids, tracking/audit.py). Phone numbers are validated with `phonenumbers` and
stored as E.164, read in WORKUP_DEFAULT_PHONE_REGION when written without a country code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, select

from tracking.audit import audit
from tracking.cases.errors import NotFound
from tracking.cases.models import Patient
from tracking.notify.contacts import InvalidContact, validate_phone, validate_postal_address
from tracking.pathway.fields import NO_CONTROL_PATTERN, plain_text

PHONE_LABELS = ("mobile", "home", "work", "other")
# Languages the centre's letters and scripts exist in first; any other is kept as typed.
LANGUAGES = {"en": "English", "es": "Spanish", "zh": "Chinese", "vi": "Vietnamese", "ar": "Arabic",
             "fr": "French", "ht": "Haitian Creole", "pt": "Portuguese", "ru": "Russian", "ko": "Korean"}  # fmt: skip
MAX_PHONES = 4

OneLine = Annotated[str, AfterValidator(plain_text), Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN})]


class Phone(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: Literal["mobile", "home", "work", "other"] = "mobile"
    number: str = Field(min_length=1, max_length=40)

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            return validate_phone(value, channel="phone")
        except InvalidContact as error:
            raise ValueError(str(error).replace("phone contact", "phone number")) from None


class ContactDetails(BaseModel):
    """Everything a navigator needs to reach the patient; each field optional."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phones: list[Phone] = Field(default_factory=list, max_length=MAX_PHONES)
    address: str | None = Field(default=None, max_length=500)
    preferred_language: str = Field(
        default="en", min_length=2, max_length=20, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
    )
    interpreter_needed: bool = False
    may_leave_message: bool | None = None
    referring_provider: OneLine | None = Field(default=None, max_length=200)
    primary_care_provider: OneLine | None = Field(default=None, max_length=200)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return validate_postal_address(value)
        except InvalidContact as error:
            raise ValueError(str(error).replace("post contact", "address")) from None

    @field_validator("referring_provider", "primary_care_provider", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("preferred_language")
    @classmethod
    def _language(cls, value: str) -> str:
        return value.lower()


FIELDS = tuple(ContactDetails.model_fields)


def contact_details(patient: Patient) -> ContactDetails:
    """The patient's stored details (already validated when written)."""
    return ContactDetails.model_construct(
        phones=[Phone.model_construct(**phone) for phone in patient.phones or []],
        **{name: getattr(patient, name) for name in FIELDS if name != "phones"},
    )


def apply_contact_details(patient: Patient, details: ContactDetails) -> list[str]:
    """Set the details on the patient row; the names of the fields that changed."""
    changed = []
    for name in FIELDS:
        new = [phone.model_dump() for phone in details.phones] if name == "phones" else getattr(details, name)
        if getattr(patient, name) != new:
            setattr(patient, name, new)
            changed.append(name)
    return changed


def update_contact_details(
    session: Session, patient_id: int, details: ContactDetails, *, actor: str, now: datetime, case_id: int | None = None
) -> list[str]:
    """Replace the patient's contact details, in the caller's transaction; audited. Returns what changed."""
    patient = session.exec(
        select(Patient).where(Patient.id == patient_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if patient is None:
        raise NotFound(f"patient {patient_id} does not exist")
    changed = apply_contact_details(patient, details)
    if changed:
        patient.contact_updated_at = now
        session.add(patient)
        audit(session, actor=actor, action="patient.contact_changed", at=now, case_id=case_id,
              patient_id=patient_id, fields=changed)  # fmt: skip
    return changed


def language_name(code: str) -> str:
    return LANGUAGES.get(code.split("-")[0], code)
