"""Deliver one queued letter (an outbox row of kind `letter`) by SMTP, as a PDF attachment.

At send time the PDF is rendered again from the letter's stored inputs and checked against its
recorded SHA-256: a letter that would come out different is never sent (the row is dead-lettered
at once, and the sweep alerts on its case). The letter is marked sent in the same savepoint as the
send, so a failed send leaves it produced and a successful one is committed with the outbox row.
The subject and body carry no patient data; the attachment carries the letter, and a message with
patient data is refused over plain SMTP (tracking/notify/channels.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from tracking.letters.inputs import lines
from tracking.letters.kinds import LetterStatus
from tracking.letters.models import Letter
from tracking.letters.queries import locked_letter
from tracking.letters.service import mark_letter_sent, render_letter, sha256
from tracking.notify.channels import DeliveryFailed, send_email
from tracking.notify.models import Notification
from tracking.notify.render import Attachment, Message
from tracking.settings import Settings

LETTER_NOTIFICATION = "letter"  # the outbox kind of a letter going out by email or fax
DELIVERY_ACTOR = "system:delivery"
WHAT = {
    "referrer_report": "a report to the referring provider",
    "prior_film_request": "a request for prior mammograms",
}


def deliver_letter(session: Session, notification: Notification, now: datetime, settings: Settings) -> None:
    """Render the letter again, check its hash, mark it sent and send it; DeliveryFailed when it cannot go."""
    letter_id = int(notification.payload["letter_id"])
    with session.begin_nested():
        letter = locked_letter(session, letter_id)
        if letter is None:
            raise DeliveryFailed(f"letter {letter_id} does not exist", outage=False, final=True)
        if letter.status == LetterStatus.sent:
            raise DeliveryFailed(
                f"letter {letter_id} was already marked sent by {letter.sent_by}; not sent again", outage=False,
                final=True,
            )  # fmt: skip
        pdf = render_letter(letter.inputs, settings)
        if sha256(pdf) != letter.pdf_sha256:
            raise DeliveryFailed(
                f"letter {letter_id} was not sent: rendered again it differs from the letter recorded (SHA-256 "
                f"{letter.pdf_sha256[:12]}...; the templates or the centre's settings changed since it was produced). "
                "Restore them, or produce a new letter", outage=False, final=True,
            )  # fmt: skip
        mark_letter_sent(session, letter_id, actor=DELIVERY_ACTOR, now=now)
        send_email(settings, notification.recipient, letter_email(letter, pdf, settings), notification.dedupe_key)


def letter_email(letter: Letter, pdf: bytes, settings: Settings) -> Message:
    """The email carrying a letter: the centre and the letter's number in words, the PDF attached; no patient data."""
    what = WHAT.get(letter.kind, "a letter")
    reference = f"BW-{letter.case_id}-{letter.facility_id or 0}"
    body = [
        settings.centre_name,
        *lines(settings.centre_address),
        f"Telephone {settings.centre_phone}",
        "",
        f"Attached: {what} from {settings.centre_name} (letter {letter.id}, our reference {reference}).",
        "",
        "This message and its attachment are confidential and hold health information. If it reached you by",
        f"mistake, please telephone {settings.centre_phone} and delete it.",
    ]
    return Message(
        subject=f"Letter {letter.id} from {settings.centre_name}, reference {reference}",
        body="\n".join(body) + "\n",
        webhook_payload={"letter_id": letter.id, "case_id": letter.case_id},
        attachments=(Attachment(f"letter-{letter.id}.pdf", pdf),),
        phi=True,
    )
