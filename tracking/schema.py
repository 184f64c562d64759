"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from tracking.alerts.models import Alert
from tracking.alerts.sweep_state import SweepChange, SweepState
from tracking.audit import AuditEntry
from tracking.cases.models import Case, CaseEvent, OutsideFacility, Patient, PriorFilmRequest, Step
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.hl7.models import HL7Message
from tracking.letters.models import Letter
from tracking.navigation.models import CaseNote, NavigatorTask
from tracking.notify.models import Notification
from tracking.runs.models import CaseRun
from tracking.scheduler_runs import SchedulerJobRun
from tracking.users.models import ApiToken, LoginFailure, User, UserSession

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "LoginFailure",
    "User",
    "UserSession",
    "CaseNote",
    "HL7InboxItem",
    "Letter",
    "NavigatorTask",
    "CaseRun",
    "SchedulerJobRun",
    "Notification",
    "Alert",
    "AuditEntry",
    "Case",
    "CaseEvent",
    "OutsideFacility",
    "Patient",
    "PriorFilmRequest",
    "Step",
    "HL7Message",
    "SweepChange",
    "SweepState",
    "metadata",
]
