"""Placeholder interpreter (the hl7-wire branch): replaced at merge by the real one (hl7-rules)."""

from __future__ import annotations

from datetime import datetime

import hl7
from sqlmodel import Session

from tracking.hl7.interpretation import Interpretation, MessageOutcome


def interpret(session: Session, message: hl7.Message, *, message_id: int, sender: str, now: datetime) -> Interpretation:
    return Interpretation(MessageOutcome.ignored, "no interpreter yet")
