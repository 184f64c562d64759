"""Tables for patients, outside facilities, cases, steps, case events, prior-film requests and the
pathway versions cases use.

Clinical vocabularies (finding types, BI-RADS, step and event kinds, dispositions) are not CHECKs:
the pathway files define them, and the engine checks every value against the case's pathway."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, UniqueConstraint, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

import tracking.users.models  # noqa: F401 - cases.navigator_id points at users
from tracking.base import json_column, moment, utcnow
from tracking.pathway.vocabulary import (
    CaseStatus,
    Density,
    FacilityChannel,
    Laterality,
    PriorFilmStatus,
    StepStatus,
    check_values,
)


class Patient(SQLModel, table=True):
    """A patient. Everything here is PHI: never log it, never send it out."""

    __tablename__ = "patients"

    id: int | None = Field(default=None, primary_key=True)
    mrn: str = Field(sa_type=String(64), unique=True, nullable=False)
    given_name: str = Field(sa_type=String(200), nullable=False)
    family_name: str = Field(sa_type=String(200), nullable=False)
    birth_date: date = Field(nullable=False)
    created_at: datetime = moment(default_now=True)
    # How to reach her (tracking/patients/contact_details.py validates and audits every change).
    # Phones: a list of {"label": "mobile" | "home" | "work" | "other", "number": E.164}.
    phones: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]")
    )
    address: str | None = Field(default=None, sa_type=String(500), nullable=True)
    preferred_language: str = Field(
        default="en", sa_type=String(20), nullable=False, sa_column_kwargs={"server_default": "en"}
    )
    interpreter_needed: bool = Field(default=False, nullable=False, sa_column_kwargs={"server_default": false()})
    may_leave_message: bool | None = Field(default=None, nullable=True)  # None: not asked yet
    referring_provider: str | None = Field(default=None, sa_type=String(200), nullable=True)
    primary_care_provider: str | None = Field(default=None, sa_type=String(200), nullable=True)
    contact_updated_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint("length(trim(mrn)) > 0", name="mrn_not_blank"),
        CheckConstraint("jsonb_typeof(phones) = 'array'", name="phones_is_list"),
    )


class OutsideFacility(SQLModel, table=True):
    """A facility holding prior mammograms, and how to reach it."""

    __tablename__ = "outside_facilities"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(200), unique=True, nullable=False)
    channel: str = Field(sa_type=String(20), nullable=False)
    contact: str = Field(sa_type=String(500), nullable=False)
    phone: str | None = Field(default=None, sa_type=String(40), nullable=True)  # for a navigator's call, E.164
    created_at: datetime = moment(default_now=True)

    __table_args__ = (CheckConstraint(f"channel IN ({check_values(FacilityChannel)})", name="channel"),)


class Case(SQLModel, table=True):
    """One diagnostic workup of one finding, pinned to a pathway version."""

    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patients.id", nullable=False, index=True)
    finding_type: str = Field(sa_type=String(40), nullable=False)
    laterality: str = Field(sa_type=String(10), nullable=False)
    density: str = Field(sa_type=String(1), nullable=False)
    birads: str = Field(sa_type=String(2), nullable=False)
    pathway_name: str = Field(sa_type=String(80), nullable=False)
    pathway_version: int = Field(nullable=False)
    # SHA-256 of the pathway file's content when the case was opened (tracking/cases/pathway_versions.py).
    pathway_hash: str | None = Field(default=None, sa_type=String(64), nullable=True)
    # A palpable finding: negative imaging then leaves a clinical follow-up owed, never a silent closure.
    palpable: bool = Field(default=False, nullable=False, sa_column_kwargs={"server_default": false()})
    status: str = Field(sa_type=String(20), nullable=False, default=CaseStatus.open)
    disposition: str | None = Field(default=None, sa_type=String(40), nullable=True)
    opened_at: datetime = moment()
    closed_at: datetime | None = moment(nullable=True)
    version: int = Field(default=1, nullable=False)
    navigator_id: int | None = Field(default=None, foreign_key="users.id", nullable=True, index=True)
    # Kept by triggers on steps and navigator_tasks (migration 0009), never written by the application:
    # the earliest due time of an open (pending or scheduled) step, and of an open navigator task.
    next_step_due_at: datetime | None = moment(nullable=True)
    next_task_due_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        CheckConstraint(f"laterality IN ({check_values(Laterality)})", name="laterality"),
        CheckConstraint(f"density IN ({check_values(Density)})", name="density"),
        CheckConstraint(f"status IN ({check_values(CaseStatus)})", name="status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_cases_status", "status"),
        # The patient worklist's buckets (tracking/cases/patient_worklist.py); three more, on
        # expressions, are in migration 0017 only.
        Index(
            "ix_cases_worklist_task_due",
            "next_task_due_at",
            postgresql_where=text("status IN ('open', 'lost_to_follow_up') AND next_task_due_at IS NOT NULL"),
        ),
        Index(
            "ix_cases_worklist_nothing_due",
            "id",
            postgresql_where=text(
                "status IN ('open', 'lost_to_follow_up') AND next_step_due_at IS NULL AND next_task_due_at IS NULL"
            ),
        ),
    )


class CaseEvent(SQLModel, table=True):
    """Something that happened to a case. Append-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "case_events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    kind: str = Field(sa_type=String(40), nullable=False)
    payload: dict[str, Any] = json_column()
    outcome: dict[str, Any] = json_column()
    actor: str = Field(sa_type=String(120), nullable=False)
    occurred_at: datetime = moment()
    recorded_at: datetime = moment(default_now=True)
    idempotency_key: str = Field(sa_type=String(200), unique=True, nullable=False)
    # SHA-256 of the request that first used the key: the same key with another request is refused.
    request_hash: str | None = Field(default=None, sa_type=String(64), nullable=True)

    __table_args__ = (CheckConstraint("length(idempotency_key) > 0", name="idempotency_key_not_blank"),)


class Step(SQLModel, table=True):
    """One thing the workup needs done, by when."""

    __tablename__ = "steps"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    kind: str = Field(sa_type=String(40), nullable=False)
    laterality: str | None = Field(default=None, sa_type=String(10), nullable=True)
    status: str = Field(sa_type=String(20), nullable=False, default=StepStatus.pending)
    due_at: datetime = moment()  # overdue from here on (for a follow-up: the end of its window)
    target_at: datetime | None = moment(nullable=True)  # a follow-up's target date, inside its window
    scheduled_at: datetime | None = moment(nullable=True)
    completed_at: datetime | None = moment(nullable=True)
    facility_id: int | None = Field(default=None, foreign_key="outside_facilities.id", nullable=True)
    # The RIS's accession number for the exam or procedure this step books, when known (searchable).
    accession_number: str | None = Field(default=None, sa_type=String(64), nullable=True)
    result: dict[str, Any] = json_column()
    created_by_event_id: int = Field(foreign_key="case_events.id", nullable=False, index=True)
    created_at: datetime = moment(default_now=True)
    # When the step last changed (created, booked, unbooked, completed, cancelled, handed off: the
    # recorded_at of the event that changed it, written by apply_decision in tracking/cases/applying.py),
    # or its case's navigator, whom its FHIR Task names as owner (touch_case_steps). FHIR's
    # Task.lastModified and `_lastUpdated` read it (migration 0012).
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()"), index=True),
    )

    __table_args__ = (
        CheckConstraint(f"status IN ({check_values(StepStatus)})", name="status"),
        CheckConstraint(f"laterality IN ({check_values(Laterality)})", name="laterality"),
        CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)", name="completed_at_iff_completed"),
        CheckConstraint("(kind = 'prior_film_request') = (facility_id IS NOT NULL)", name="facility_iff_priors"),
        Index(
            "ix_steps_open_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'scheduled')"),
        ),
        Index("ix_steps_handed_off_due", "due_at", postgresql_where=text("status = 'handed_off'")),
        Index("ix_steps_accession_number", "accession_number", postgresql_where=text("accession_number IS NOT NULL")),
        Index("ix_steps_open_kind", "kind", "case_id", postgresql_where=text("status IN ('pending', 'scheduled')")),
    )


class PriorFilmRequest(SQLModel, table=True):
    """A request for prior mammograms from one outside facility, for one case."""

    __tablename__ = "prior_film_requests"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False)
    facility_id: int = Field(foreign_key="outside_facilities.id", nullable=False, index=True)
    step_id: int = Field(foreign_key="steps.id", nullable=False, index=True)
    status: str = Field(sa_type=String(20), nullable=False, default=PriorFilmStatus.requested)
    unobtainable_reason: str | None = Field(default=None, sa_type=String(500), nullable=True)
    comparison: str | None = Field(default=None, sa_type=String(40), nullable=True)
    requested_at: datetime = moment()
    received_at: datetime | None = moment(nullable=True)
    chase_count: int = Field(default=0, nullable=False)
    last_chased_at: datetime | None = moment(nullable=True)

    __table_args__ = (
        UniqueConstraint("case_id", "facility_id"),
        CheckConstraint(f"status IN ({check_values(PriorFilmStatus)})", name="status"),
        CheckConstraint(
            "status <> 'unobtainable' OR length(trim(coalesce(unobtainable_reason, ''))) > 0",
            name="unobtainable_needs_reason",
        ),
        CheckConstraint("(status = 'received') = (received_at IS NOT NULL)", name="received_at_iff_received"),
        CheckConstraint("chase_count >= 0", name="chase_count_not_negative"),
    )


class PathwayVersion(SQLModel, table=True):
    """A pathway name and version that cases use, with the content hash it must keep."""

    __tablename__ = "pathway_versions"

    name: str = Field(sa_type=String(80), primary_key=True)
    version: int = Field(primary_key=True)
    content_hash: str = Field(sa_type=String(64), nullable=False)
    # The file's `timeliness:` milestones, read by the case_timeliness view.
    milestones: dict[str, Any] = json_column()
    first_used_at: datetime = moment()

    __table_args__ = (CheckConstraint("length(content_hash) = 64", name="content_hash_sha256"),)
