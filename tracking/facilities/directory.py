"""The facility directory: name, the channel film requests go by, its contact, a phone to call.

Navigators and admins keep it (tracking/users/roles.py, FACILITIES); everywhere else a facility is
picked by name. Names are unique, compared without regard to case and spacing. Every change is
audited with the facility's id and the fields that changed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.cases.models import OutsideFacility
from tracking.notify.contacts import InvalidContact, validate_contact, validate_phone
from tracking.pathway.fields import plain_text
from tracking.pathway.vocabulary import FacilityChannel


class FacilityEntry(BaseModel):
    """A facility as a navigator writes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    channel: FacilityChannel
    contact: str = Field(min_length=1, max_length=500)
    phone: str | None = Field(default=None, max_length=40)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return plain_text(" ".join(value.split()))

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return validate_phone(value, channel="phone")
        except InvalidContact as error:
            raise ValueError(str(error).replace("phone contact", "phone number")) from None

    @model_validator(mode="after")
    def _contact(self) -> FacilityEntry:
        try:
            self.contact = validate_contact(self.channel, self.contact)
        except InvalidContact as error:
            raise ValueError(str(error)) from None
        return self


def facilities(session: Session) -> list[OutsideFacility]:
    return list(session.exec(select(OutsideFacility).order_by(func.lower(OutsideFacility.name))))


def facility_named(session: Session, name: str) -> OutsideFacility | None:
    key = " ".join(name.split()).casefold()
    return session.exec(select(OutsideFacility).where(func.lower(OutsideFacility.name) == key)).first()


def add_facility(session: Session, entry: FacilityEntry, *, actor: str, now: datetime) -> OutsideFacility:
    """Add a facility to the directory, in the caller's transaction; a name already there is refused."""
    existing = facility_named(session, entry.name)
    if existing is not None:
        raise InvalidInput(f"the directory already has a facility named {existing.name!r}; edit that one instead")
    facility = OutsideFacility(**entry.model_dump(), created_at=now)
    session.add(facility)
    session.flush()
    audit(session, actor=actor, action="facility.added", at=now, facility_id=facility.id)
    return facility


def update_facility(
    session: Session, facility_id: int, entry: FacilityEntry, *, actor: str, now: datetime
) -> list[str]:
    """Change a facility's details, in the caller's transaction; the names of the fields that changed.

    Requests already sent keep the contact they went to; new requests and chases use the new one."""
    facility = session.exec(
        select(OutsideFacility).where(OutsideFacility.id == facility_id).with_for_update()
        .execution_options(populate_existing=True)
    ).first()  # fmt: skip
    if facility is None:
        raise NotFound(f"there is no outside facility {facility_id}")
    clash = facility_named(session, entry.name)
    if clash is not None and clash.id != facility_id:
        raise InvalidInput(f"the directory already has a facility named {clash.name!r}")
    changed = [name for name, value in entry.model_dump().items() if getattr(facility, name) != value]
    for name in changed:
        setattr(facility, name, getattr(entry, name))
    if changed:
        session.add(facility)
        audit(session, actor=actor, action="facility.changed", at=now, facility_id=facility_id, fields=changed)
    return changed


def facility_ids_named(session: Session, names: list[str]) -> dict[str, int]:
    """Directory names to ids (names compared as facility_named does)."""
    keys = {" ".join(name.split()).casefold() for name in names}
    rows = session.exec(select(OutsideFacility.id, OutsideFacility.name).where(
        col(func.lower(OutsideFacility.name)).in_(keys)))  # fmt: skip
    return {name: facility_id for facility_id, name in rows if facility_id is not None}
