"""Send a produced letter to a provider or a facility: queue it in the outbox, by email or by fax.

Fax goes through the email-to-fax gateway (WORKUP_FAX_GATEWAY), so both channels are one email
with the PDF attached, delivered with the outbox's retries (tracking/letters/delivery.py) and
marked sent once the SMTP server accepts it. A letter is patient data: it is refused while the
SMTP settings are plain. Letters to patients are printed and posted; they are never queued here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, WorkupError
from tracking.cases.models import OutsideFacility
from tracking.letters.delivery import LETTER_NOTIFICATION
from tracking.letters.kinds import LetterChannel, LetterStatus, RecipientKind
from tracking.letters.models import Letter
from tracking.letters.queries import existing_letter
from tracking.letters.service import render_letter, sha256
from tracking.notify.channels import PLAIN_SMTP_REFUSAL, plain_smtp
from tracking.notify.contacts import InvalidContact, validate_email
from tracking.notify.fax import fax_address
from tracking.notify.models import Notification
from tracking.notify.outbox import enqueue
from tracking.notify.recipients import Recipient
from tracking.pathway.vocabulary import NotificationStatus
from tracking.settings import Settings, get_settings

SENDABLE = (LetterChannel.fax, LetterChannel.email)
RECIPIENT_WORDS = {RecipientKind.referrer: "the referring provider", RecipientKind.facility: "the facility"}


class SendRefused(WorkupError):
    """The letter cannot be sent this way (its channel, its recipient, the settings); nothing was queued."""

    exit_code = 2


@dataclass(frozen=True)
class QueuedLetter:
    letter_id: int
    case_id: int
    notification_id: int
    channel: str  # the letter's: fax or email
    address: str  # where the email goes: the gateway's address for a fax

    def as_json(self) -> dict[str, Any]:
        return {"letter_id": self.letter_id, "case_id": self.case_id, "notification_id": self.notification_id,
                "channel": self.channel, "address": self.address, "status": "queued"}  # fmt: skip


def send_letter(
    session: Session,
    letter_id: int,
    *,
    actor: str,
    now: datetime,
    to: str | None = None,
    settings: Settings | None = None,
) -> QueuedLetter:
    """Queue a produced letter for delivery by its channel (fax or email), to `to` or the recorded contact."""
    settings = settings or get_settings()
    letter = existing_letter(session, letter_id)
    if letter.status == LetterStatus.sent:
        raise InvalidInput(f"letter {letter_id} was already sent (marked sent by {letter.sent_by})")
    _check_sendable(letter)
    if plain_smtp(settings):
        raise SendRefused(f"letter {letter_id} was not queued: {PLAIN_SMTP_REFUSAL}")
    queued = pending_delivery(session, letter_id)
    if queued is not None:
        raise InvalidInput(
            f"letter {letter_id} is already queued for delivery (notification {queued.id}); it is marked sent "
            "once the mail server accepts it"
        )
    address = _address(session, letter, to, settings)
    if sha256(render_letter(letter.inputs, settings)) != letter.pdf_sha256:
        raise SendRefused(
            f"letter {letter_id} was not queued: rendered again it differs from the letter recorded (the templates "
            "or the centre's settings changed since it was produced); restore them, or produce a new letter"
        )
    key = f"letter:{letter_id}"
    payload = {"letter_id": letter_id, "letter_kind": letter.kind, "letter_channel": letter.channel}
    created = enqueue(session, kind=LETTER_NOTIFICATION, recipients=[Recipient("email", address)], dedupe_key=key,
                      now=now, case_id=letter.case_id, facility_id=letter.facility_id, payload=payload)  # fmt: skip
    notification = session.exec(select(Notification).where(Notification.dedupe_key == f"{key}|email:{address}")).one()
    if not created:
        raise InvalidInput(
            f"letter {letter_id} went to {address} before and its delivery was given up (notification "
            f"{notification.id}: {notification.last_error or notification.status}); fix the cause, then "
            f"`workup outbox retry {notification.id}`"
        )
    audit(session, actor=actor, action="letter.send_queued", at=now, case_id=letter.case_id, letter_id=letter_id,
          notification_id=notification.id, channel=letter.channel)  # fmt: skip
    return QueuedLetter(letter_id, letter.case_id, int(notification.id or 0), letter.channel, address)


def sendable(letter: Letter) -> bool:
    """Whether the letter may go by the outbox: to a provider or a facility, by fax or email."""
    return letter.recipient_kind != RecipientKind.patient and letter.channel in SENDABLE


def _check_sendable(letter: Letter) -> None:
    if letter.recipient_kind == RecipientKind.patient:
        raise SendRefused(
            f"letter {letter.id} is to the patient: letters to patients are printed and posted (print it again with "
            f"`workup letter reprint {letter.id}` and mark it sent); sending them by email, fax or portal is not "
            "supported"
        )
    if letter.channel not in SENDABLE:
        raise SendRefused(
            f"letter {letter.id} goes by {letter.channel.replace('_', ' and ')}, not by fax or email: print it "
            f"(`workup letter reprint {letter.id}`) and mark it sent"
        )


def _address(session: Session, letter: Letter, to: str | None, settings: Settings) -> str:
    """The email address the letter goes to: the gateway's for the fax number, or the email address."""
    fax = letter.channel == LetterChannel.fax
    what = "fax number" if fax else "email address"
    contact = to.strip() if to is not None and to.strip() else _recorded_contact(session, letter)
    if fax and settings.fax_gateway is None:
        raise SendRefused(
            f"letter {letter.id} goes by fax and no fax gateway is configured: set WORKUP_FAX_GATEWAY to the "
            "email-to-fax gateway's address, e.g. {number}@fax.example.org"
        )
    if contact is None:
        whom = RECIPIENT_WORDS.get(RecipientKind(letter.recipient_kind), "its recipient")
        raise InvalidInput(
            f"letter {letter.id} goes by {letter.channel} to {whom} and no {what} is recorded for them; give the "
            f"{what} to send it to (`--to` on the command line, `to` in the API)"
        )
    try:
        if fax:
            return fax_address(str(settings.fax_gateway), contact, region=settings.default_phone_region)
        return validate_email(contact, what="email address")
    except InvalidContact as error:
        raise InvalidInput(f"letter {letter.id}: {error}") from None


def _recorded_contact(session: Session, letter: Letter) -> str | None:
    """The facility's contact when the facility is reached by the letter's channel; providers have none recorded."""
    if letter.facility_id is None:
        return None
    facility = session.get(OutsideFacility, letter.facility_id)
    return facility.contact if facility is not None and facility.channel == letter.channel else None


def pending_delivery(session: Session, letter_id: int) -> Notification | None:
    """The letter's delivery still waiting in the outbox, if any."""
    return session.exec(
        select(Notification)
        .where(
            Notification.kind == LETTER_NOTIFICATION,
            Notification.status == NotificationStatus.pending,
            col(Notification.payload)["letter_id"].as_integer() == letter_id,
        )
        .order_by(col(Notification.id))
    ).first()


def queued_letters(session: Session, letter_ids: list[int]) -> set[int]:
    """Which of the letters have a delivery still waiting in the outbox (one query for a list)."""
    if not letter_ids:
        return set()
    letter_id = col(Notification.payload)["letter_id"].as_integer()
    rows = session.exec(
        select(letter_id).where(
            Notification.kind == LETTER_NOTIFICATION,
            Notification.status == NotificationStatus.pending,
            letter_id.in_(letter_ids),
        )
    )
    return {int(found) for found in rows}
