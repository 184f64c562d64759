"""The record of every letter produced: what, to whom, by which channel, from which inputs, its hash.

Append-only but for "mark sent" (status, sent_at, sent_by, and for a lay summary the event it
recorded and the density statement that went out): a trigger refuses any other change, a second
marking, a delete, and a TRUNCATE (migrations 0010, 0011). The inputs hold what the template
needed, so the letter can be rendered again and checked against `pdf_sha256`. The inputs are PHI, like the patient row:
never log them, never copy them into the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlmodel import Field, SQLModel

import tracking.cases.models  # noqa: F401 - letters point at cases, steps and facilities
from tracking.base import json_column, moment
from tracking.letters.kinds import LetterChannel, LetterKind, LetterStatus, RecipientKind
from tracking.pathway.vocabulary import check_values


class Letter(SQLModel, table=True):
    __tablename__ = "letters"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", nullable=False, index=True)
    kind: str = Field(sa_type=String(40), nullable=False)
    language: str = Field(sa_type=String(20), nullable=False)
    recipient_kind: str = Field(sa_type=String(20), nullable=False)
    facility_id: int | None = Field(default=None, foreign_key="outside_facilities.id", nullable=True)
    step_id: int | None = Field(default=None, foreign_key="steps.id", nullable=True)  # the step it answers
    channel: str = Field(sa_type=String(20), nullable=False)
    status: str = Field(sa_type=String(20), nullable=False, default=LetterStatus.produced)
    produced_by: str = Field(sa_type=String(120), nullable=False)
    produced_at: datetime = moment()
    sent_by: str | None = Field(default=None, sa_type=String(120), nullable=True)
    sent_at: datetime | None = moment(nullable=True)
    inputs: dict[str, Any] = json_column()
    pdf_sha256: str = Field(sa_type=String(64), nullable=False)
    # What marking a lay summary sent recorded (tracking/letters/marking.py): the result_letter_sent
    # event it recorded (None when its step was already complete), and the density statement that went out.
    sent_event_id: int | None = Field(default=None, foreign_key="case_events.id", nullable=True)
    sent_density: str | None = Field(default=None, sa_type=String(20), nullable=True)  # dense | not_dense
    sent_density_statement: str | None = Field(default=None, sa_type=Text, nullable=True)

    __table_args__ = (
        CheckConstraint(f"kind IN ({check_values(LetterKind)})", name="kind"),
        CheckConstraint(f"recipient_kind IN ({check_values(RecipientKind)})", name="recipient_kind"),
        CheckConstraint(f"channel IN ({check_values(LetterChannel)})", name="channel"),
        CheckConstraint(f"status IN ({check_values(LetterStatus)})", name="status"),
        CheckConstraint("(recipient_kind = 'facility') = (facility_id IS NOT NULL)", name="facility_iff_facility"),
        CheckConstraint(
            "(status = 'sent') = (sent_at IS NOT NULL) AND (sent_at IS NULL) = (sent_by IS NULL)", name="sent_iff_sent"
        ),
        CheckConstraint("pdf_sha256 ~ '^[0-9a-f]{64}$'", name="pdf_sha256_hex"),
        CheckConstraint(
            "sent_event_id IS NULL OR (status = 'sent' AND kind = 'result')", name="sent_event_for_sent_result"
        ),
        CheckConstraint(
            "(sent_density IS NULL) = (sent_density_statement IS NULL)", name="sent_density_with_statement"
        ),
        CheckConstraint(
            "sent_density IS NULL OR (status = 'sent' AND kind = 'result' AND sent_density IN ('dense', 'not_dense'))",
            name="sent_density_for_sent_result",
        ),
        CheckConstraint("jsonb_typeof(inputs) = 'object'", name="inputs_is_object"),
        Index("ix_letters_unsent", "produced_at", postgresql_where=text("status = 'produced'")),
    )
