"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from tracking.alerts.models import Alert
from tracking.audit import AuditEntry
from tracking.cases.models import Case, CaseEvent, OutsideFacility, Patient, PriorFilmRequest, Step

metadata = SQLModel.metadata

__all__ = [
    "Alert",
    "AuditEntry",
    "Case",
    "CaseEvent",
    "OutsideFacility",
    "Patient",
    "PriorFilmRequest",
    "Step",
    "metadata",
]
