"""Practitioner: the navigators a Task's owner points at (users with the navigator role, or assigned to a
case). Only the display name and whether the account is active; never the username."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from tracking.cases.models import Case
from tracking.fhir.bundle import Found, fetch_page, the_row
from tracking.fhir.elements import FhirContext, clean, instant
from tracking.fhir.outcome import numeric_id
from tracking.fhir.params import SearchRequest
from tracking.users.models import User
from tracking.users.roles import Role

TYPE = "Practitioner"
SEARCH: dict = {}


def navigators() -> Any:
    assigned = select(Case.navigator_id).where(col(Case.navigator_id).is_not(None))
    return select(User).where(or_(User.role == Role.navigator, col(User.id).in_(assigned)))


def read(session: Session, resource_id: str, context: FhirContext) -> Found:
    row = the_row(session, navigators().where(User.id == numeric_id(TYPE, resource_id)), TYPE, resource_id)
    return Found([practitioner(row[0])])


def search(session: Session, request: SearchRequest, context: FhirContext) -> Found:
    page = fetch_page(session, navigators(), order_by=[User.id], request=request)
    return Found([practitioner(row[0]) for row in page.rows], page.total, page.more)


def practitioner(user: User) -> dict[str, Any]:
    return clean({
        "resourceType": TYPE,
        "id": str(user.id),
        "meta": {"lastUpdated": instant(user.disabled_at or user.created_at)},
        "active": user.disabled_at is None,
        "name": [{"text": user.display_name}],
    })  # fmt: skip
