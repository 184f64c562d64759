"""Whether outbound messages left, in words: the prior-film table reads each request's latest message.

A request is only as good as the message that carries it: "requested, 0 chases" hides a request
the mail server never took. Each facility's latest prior-film message says sent, waiting to retry
(and why), or failed: not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tracking.notify.models import Notification

PRIOR_FILM_KINDS = ("prior_film_request", "prior_film_chase", "prior_film_manual")
AWAY = "receiver away"


@dataclass(frozen=True)
class Delivery:
    what: str  # "first request", "chase 2", "by hand"
    state: str  # words: sent / waiting to retry because the mail server is away / failed: not sent
    css: str  # later (ok) | soon (waiting) | late (failed)
    at: datetime | None = None


def delivery_state(note: Notification) -> Delivery:
    """One message's state in words, with a colour that repeats them."""
    what = {"prior_film_request": "first request", "prior_film_manual": "by hand"}.get(note.kind)
    if what is None:
        what = f"chase {note.payload.get('attempt', '')}".strip()
    if note.status == "delivered":
        state = "navigators asked to send it by fax or phone" if note.kind == "prior_film_manual" else "sent"
        return Delivery(what, state, "later", note.delivered_at)
    if note.status == "dead":
        return Delivery(what, "failed: not sent", "late", note.created_at)
    if (note.last_error or "").startswith(AWAY):
        server = "the mail server" if note.channel == "email" else "the receiving system"
        return Delivery(what, f"waiting to retry because {server} is away", "soon", note.next_attempt_at)
    if note.failures:
        times = "once" if note.failures == 1 else f"{note.failures} times"
        return Delivery(what, f"waiting to retry (refused {times})", "soon", note.next_attempt_at)
    return Delivery(what, "waiting to send", "soon", note.created_at)


def prior_film_deliveries(session: Session, case_id: int) -> dict[int, Delivery]:
    """Each facility's latest prior-film message on the case, by facility id."""
    query = (
        select(Notification)
        .where(Notification.case_id == case_id, col(Notification.kind).in_(PRIOR_FILM_KINDS),
               col(Notification.facility_id).is_not(None))
        .order_by(col(Notification.id))
    )  # fmt: skip
    latest: dict[int, Notification] = {}
    for note in session.exec(query):
        if note.facility_id is not None:
            latest[note.facility_id] = note
    return {facility_id: delivery_state(note) for facility_id, note in latest.items()}
