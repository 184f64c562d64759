"""Helpers for the HL7 interpretation tests: the corpus of messages written for them, parsed as the
intake parses them (segments separated by CR), and interpret() called as the intake calls it."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import hl7
from sqlmodel import Session, select

from tests.factories import seed_opening
from tracking.cases.opening import open_case
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.hl7.interpret import interpret
from tracking.hl7.interpretation import Interpretation

CORPUS = Path(__file__).parent / "hl7_corpus" / "rules"
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the seed case's exam
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # when the messages are read (bookings in the corpus are after it)
SEED_MRN = "HL7-100"
MESSAGE_IDS = count(1000)


def text(name: str) -> str:
    """A corpus message with CR between segments, as it arrives over MLLP."""
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return "\r".join(line for line in lines if line.strip())


def message(name: str, **replace: str) -> hl7.Message:
    raw = text(name)
    for old, new in replace.items():
        raw = raw.replace(old, new)
    return hl7.parse(raw)


def run(session: Session, name_or_message: str | hl7.Message, *, now: datetime = NOW, **replace: str) -> Interpretation:
    parsed = message(name_or_message, **replace) if isinstance(name_or_message, str) else name_or_message
    return interpret(session, parsed, message_id=next(MESSAGE_IDS), sender="RIS^RIVERSIDE", now=now)


def seed_case(session: Session, mrn: str = SEED_MRN, **overrides) -> int:
    """The seed patient's case (left calcifications, density c, two outside facilities), opened at OPENED."""
    return open_case(session, seed_opening(mrn=mrn, **overrides), actor="test", now=OPENED).case_id


def item(session: Session, item_id: int | None) -> HL7InboxItem:
    assert item_id is not None, "expected an inbox item"
    found = session.get(HL7InboxItem, item_id)
    assert found is not None
    return found


def open_items(session: Session) -> list[HL7InboxItem]:
    return list(session.exec(select(HL7InboxItem).where(HL7InboxItem.status == "open").order_by(HL7InboxItem.id)))
