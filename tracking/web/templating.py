"""Jinja2 templates and the small filters they use; formatting lives in presenters, not here."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError

from tracking.centre_time import input_value, local, zone_label
from tracking.users.roles import (
    ADMINISTER,
    EXPORT,
    FACILITIES,
    HL7_INBOX,
    HL7_MESSAGES,
    NAVIGATE,
    OPEN_CASES,
    OPERATIONS,
    OUTCOMES_AUDIT,
    SEND_LETTERS,
    Role,
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["words"] = lambda value: str(value or "").replace("_", " ")
# Dates and times on the centre's clock (WORKUP_TIMEZONE, tracking/centre_time.py).
# A plain date (a birth date) has no clock: shown as it is.
templates.env.filters["day"] = lambda value: (
    f"{local(value) if isinstance(value, datetime) else value:%Y-%m-%d}" if value else ""
)
templates.env.filters["moment"] = lambda value: f"{local(value):%Y-%m-%d %H:%M}" if value else ""
templates.env.filters["input_moment"] = input_value
templates.env.globals["zone"] = zone_label


def page(request: Request, name: str, status_code: int = 200, **context):
    """Render a template with who is signed in and what their role may see."""
    signed = getattr(request.state, "signed", None)
    try:
        role = signed.user.role if signed else None
        if signed:
            _ = signed.user.username, signed.user.display_name
    except SQLAlchemyError:  # the user's row went with a closed, rolled-back session: show the page signed out
        signed, role = None, None
    context |= {
        "request": request,
        "signed": signed,
        "user": signed.user if signed else None,
        "csrf": signed.browser.csrf_token if signed and signed.browser else "",
        "can_export": role in EXPORT,
        "can_audit": role in ADMINISTER,
        "can_operate": role in OPERATIONS,
        "can_audit_outcomes": role in OUTCOMES_AUDIT,
        "can_open_cases": role in OPEN_CASES,
        "can_navigate": role in NAVIGATE,
        "can_send_letters": role in SEND_LETTERS,
        "can_keep_facilities": role in FACILITIES,
        "can_read_hl7": role in HL7_MESSAGES,
        "can_review_hl7": role in HL7_INBOX,
        "is_navigator": role == Role.navigator,
        "nav": context.get("nav", ""),
    }
    return templates.TemplateResponse(request, name, context, status_code=status_code)
