"""The message log as people read it (`workup hl7 messages`, the /hl7/messages page): newest first,
filtered by outcome, type, sender and when received; never the message's content.

Listing is audited like every list view, with the case ids it showed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from tracking.audit import audit
from tracking.cases.queries import COUNT_CAP, shown_case_ids
from tracking.hl7.interpretation import MessageOutcome
from tracking.hl7.models import HL7Message

MAX_LIMIT = 10_000
MESSAGE_TYPE = re.compile(r"[A-Za-z0-9]{1,20}(\^[A-Za-z0-9]{1,20})?")
SENDER_MAX = 201


def is_message_type(value: str) -> bool:
    """ "ORU" or "ORU^R01": what the type filter takes."""
    return MESSAGE_TYPE.fullmatch(value) is not None


def is_sender(value: str) -> bool:
    """What a sender filter can be: at most SENDER_MAX characters, none of them control characters."""
    return len(value) <= SENDER_MAX and not re.search(r"[\x00-\x1f\x7f]", value)


@dataclass(frozen=True)
class LogFilters:
    outcome: MessageOutcome | None = None
    message_type: str | None = None  # "ORU", or "ORU^R01" with its trigger event
    sender: str | None = None  # the sender (MSH-3^MSH-4) or its beginning ("RIS"), any case
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before

    def conditions(self) -> list:
        conditions = []
        if self.outcome is not None:
            conditions.append(HL7Message.outcome == self.outcome.value)
        if self.message_type:
            kind, _, trigger = self.message_type.upper().partition("^")
            conditions.append(func.upper(HL7Message.message_type) == kind)
            if trigger:
                conditions.append(func.upper(HL7Message.trigger_event) == trigger)
        if self.sender:
            prefix = self.sender.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(col(HL7Message.sender).ilike(prefix + "%", escape="\\"))
        if self.since is not None:
            conditions.append(HL7Message.received_at >= self.since)
        if self.until is not None:
            conditions.append(HL7Message.received_at < self.until)
        return conditions

    def as_detail(self) -> dict:
        named = {"filter_outcome": self.outcome.value if self.outcome else None, "filter_type": self.message_type,
                 "filter_sender": self.sender, "filter_since": self.since.isoformat() if self.since else None,
                 "filter_until": self.until.isoformat() if self.until else None}  # fmt: skip
        return {key: value for key, value in named.items() if value}


@dataclass(frozen=True)
class LoggedMessage:
    id: int
    received_at: datetime
    sender: str | None
    control_id: str | None
    message_type: str | None
    trigger_event: str | None
    version: str | None
    charset: str | None
    outcome: str
    detail: str
    case_id: int | None
    inbox_item_id: int | None
    ack_code: str
    duplicates: int

    @property
    def type_label(self) -> str:
        return "^".join(part for part in (self.message_type, self.trigger_event) if part)

    def as_dict(self) -> dict:
        return asdict(self) | {"received_at": self.received_at.isoformat(), "type": self.type_label}


COLUMNS = [getattr(HL7Message, name) for name in LoggedMessage.__dataclass_fields__]


def list_messages(
    session: Session, now: datetime, *, actor: str, filters: LogFilters | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[LoggedMessage], int]:
    """One page of the log, newest first, and how many match (counted up to COUNT_CAP + 1); audited."""
    filters = filters or LogFilters()
    conditions = filters.conditions()
    query = select(*COLUMNS).where(*conditions).order_by(col(HL7Message.received_at).desc(), col(HL7Message.id).desc())
    rows = [LoggedMessage(*row) for row in session.execute(query.offset(offset).limit(min(limit, MAX_LIMIT)))]
    matching = select(HL7Message.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = session.execute(select(func.count()).select_from(matching)).scalar_one()
    audit(session, actor=actor, action="hl7.messages_listed", at=now, count=len(rows), case_ids=shown_case_ids(rows),
          **filters.as_detail())  # fmt: skip
    return rows, total
