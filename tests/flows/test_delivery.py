"""Outbox delivery to a real SMTP server (aiosmtpd) and a real HTTP webhook receiver, on loopback."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tracking.cases.opening import FacilityRef, open_case
from tracking.cases.recording import record_event
from tracking.notify.delivery import deliver_due
from tracking.notify.models import Notification
from tracking.notify.outbox import enqueue
from tracking.notify.recipients import Recipient
from tracking.runs.outside_work import queue_outside_work

PHI = ("Maren", "Testcase", "TEST-SEED-1", "1968-04-12")


def opened_with_requests(engine, now, facilities, *, read=False):
    """Open the seed case (and, with `read`, record a suspicious magnification read), then queue its work."""
    with Session(engine) as session:
        case_id = open_case(session, seed_opening(facilities=facilities), actor="nav", now=now).case_id
        if read:
            record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now)
        queue_outside_work(session, case_id, now)
        session.commit()
    return case_id


def test_prior_film_request_email_reaches_the_facility(committed, now, smtp, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    facility = FacilityRef(name="Mail Imaging", channel="email", contact="films@mail-imaging.test")
    case_id = opened_with_requests(committed, now, [facility], read=True)
    report = deliver_due(committed, now)
    assert report.as_dict() == {"delivered": 2, "retrying": 0, "waiting": 0, "dead": 0}  # request and letter notice
    by_recipient = {mail.recipients[0]: mail for mail in smtp.received}
    request = by_recipient["films@mail-imaging.test"]
    assert request.subject == f"Request for prior mammograms, reference BW-{case_id}-{request_facility(committed)}"
    assert all(value not in request.subject for value in PHI)
    assert "Maren Testcase" in request.body and "1968-04-12" in request.body  # the facility needs identifiers
    navigator = by_recipient["nav@center.test"]
    assert all(value not in navigator.subject + navigator.body for value in PHI)
    assert deliver_due(committed, now).delivered == 0  # delivered rows are never sent again
    assert len(smtp.received) == 2


def request_facility(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(Notification.facility_id).where(Notification.kind == "prior_film_request")).one()


def test_server_down_then_back_delivers_exactly_once(committed, now, smtp, configure):
    """An SMTP server that is away makes rows wait, however long, without using up their attempts."""
    configure(WORKUP_DELIVERY_BACKOFF_SECONDS=60, WORKUP_DELIVERY_MAX_ATTEMPTS=3)
    facility = FacilityRef(name="Down Imaging", channel="email", contact="films@down-imaging.test")
    opened_with_requests(committed, now, [facility])
    smtp.stop()
    first = deliver_due(committed, now)
    assert first.as_dict() == {"delivered": 0, "retrying": 0, "waiting": 1, "dead": 0}
    with Session(committed) as session:
        row = session.exec(select(Notification)).one()
        assert (row.attempts, row.failures, row.next_attempt_at, row.status) == (
            1, 0, now + timedelta(seconds=60), "pending"
        )  # fmt: skip
        assert "receiver away: SMTP 127.0.0.1" in row.last_error
    assert deliver_due(committed, now + timedelta(seconds=30)).waiting == 0  # backing off
    second = deliver_due(committed, now + timedelta(seconds=61))
    assert second.waiting == 1  # still down: the next wait doubles
    with Session(committed) as session:
        assert session.exec(select(Notification.next_attempt_at)).one() == now + timedelta(seconds=61 + 120)
    moment = now + timedelta(seconds=200)
    for _ in range(10):  # far more tries than WORKUP_DELIVERY_MAX_ATTEMPTS: an outage never dead-letters
        deliver_due(committed, moment)
        moment += timedelta(minutes=5)  # the wait is capped at five minutes while the server is away
    with Session(committed) as session:
        row = session.exec(select(Notification)).one()
        assert (row.status, row.attempts, row.failures) == ("pending", 12, 0)
    smtp.start()
    assert deliver_due(committed, moment).delivered == 1
    assert deliver_due(committed, moment + timedelta(days=1)).delivered == 0
    assert [mail.recipients for mail in smtp.received] == [["films@down-imaging.test"]]


def test_dead_letter_after_the_configured_refusals(committed, now, configure, smtp):
    configure(WORKUP_DELIVERY_MAX_ATTEMPTS=3, WORKUP_DELIVERY_BACKOFF_SECONDS=1)
    smtp.refuse.add("gone@center.test")
    with Session(committed) as session:
        enqueue(
            session, kind="event_warning", recipients=[Recipient("email", "gone@center.test")], dedupe_key="w:1",
            now=now, payload={"event": "assessment"},
        )  # fmt: skip
        session.commit()
    moment = now
    for _ in range(5):
        deliver_due(committed, moment)
        moment += timedelta(hours=1)
    with Session(committed) as session:
        row = session.exec(select(Notification)).one()
    assert (row.status, row.attempts, row.failures) == ("dead", 3, 3)
    assert "recipient refused (550)" in row.last_error


def test_webhook_delivery_carries_ids_only(committed, now, webhook, configure):
    configure(WORKUP_ALERT_WEBHOOK_URL=webhook.url)
    facility = FacilityRef(name="Hook Imaging", channel="webhook", contact=webhook.url)
    case_id = opened_with_requests(committed, now, [facility], read=True)
    report = deliver_due(committed, now)
    assert report.delivered == 2
    assert sorted(body["kind"] for _, body in webhook.received) == ["prior_film_request", "result_letter_due"]
    for headers, body in webhook.received:
        assert body["case_id"] == case_id
        assert len(headers["Idempotency-Key"]) == 64
        assert all(value not in str(body) for value in PHI)


def test_webhook_error_status_is_retried(committed, now, webhook):
    """503 means "not now": the row waits without counting. 404 means "never": it counts."""
    webhook.status = 503
    with Session(committed) as session:
        enqueue(
            session, kind="event_warning", recipients=[Recipient("webhook", webhook.url)], dedupe_key="w:2",
            now=now, payload={"event": "assessment"},
        )  # fmt: skip
        session.commit()
    assert deliver_due(committed, now).waiting == 1
    webhook.status = 404
    assert deliver_due(committed, now + timedelta(hours=1)).retrying == 1
    with Session(committed) as session:
        assert session.exec(select(Notification.attempts, Notification.failures)).one() == (2, 1)
    webhook.status = 200
    assert deliver_due(committed, now + timedelta(hours=2)).delivered == 1
    assert len(webhook.received) == 1
