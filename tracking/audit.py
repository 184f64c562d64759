"""The audit log: who did what to which case, and when. Separate from the case's own events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlmodel import Field, Session, SQLModel

import tracking.cases.models  # noqa: F401 - tables its foreign keys point at
from tracking.base import json_column, moment


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = moment(index=True)
    actor: str = Field(sa_type=String(120), nullable=False)
    action: str = Field(sa_type=String(60), nullable=False)
    case_id: int | None = Field(default=None, foreign_key="cases.id", nullable=True, index=True)
    detail: dict[str, Any] = json_column()


def audit(
    session: Session, *, actor: str, action: str, at: datetime, case_id: int | None = None, **detail: Any
) -> None:
    """Add an audit row to the caller's transaction. `detail` must hold ids, never patient data."""
    session.add(AuditEntry(at=at, actor=actor, action=action, case_id=case_id, detail=detail))


def audit_insert_from(source: str) -> str:
    """SQL adding one audit row per row of `source` (columns case_id, detail jsonb), for a statement that
    writes several tables at once. Binds :now (the moment), :audit_actor, :audit_action and
    :audit_detail (JSON merged into each row's detail). Like `audit`, ids only, never patient data."""
    return f"""
    INSERT INTO audit_log (at, actor, action, case_id, detail)
    SELECT CAST(:now AS timestamptz), :audit_actor, :audit_action, a.case_id, a.detail || CAST(:audit_detail AS jsonb)
    FROM {source} a
    RETURNING id"""
