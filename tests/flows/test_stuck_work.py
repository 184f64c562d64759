"""No work dropped silently: a bad row never blocks delivery, a dead letter and a stalled run request
each raise an alert on their case, and each alert resolves once its cause is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.factories import seed_opening
from tracking.alerts.models import Alert
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import FacilityRef, open_case
from tracking.notify.dead_letters import retry_dead_notifications
from tracking.notify.delivery import deliver_due
from tracking.notify.models import Notification

# Contacts that validation refuses today but that older rows (or a database edited by hand) may hold.
BAD_CONTACTS = [
    ("email", "films@bad-imaging.test\nBcc: someone@elsewhere.test"),
    ("email", "not an address"),
    ("webhook", "ftp://example.invalid/x"),
    ("webhook", "no scheme at all"),
]


def facility_with_contact(engine, name: str, channel: str, contact: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outside_facilities (name, channel, contact, created_at) "
                "VALUES (:name, :channel, :contact, now())"
            ),
            {"name": name, "channel": channel, "contact": contact},
        )


def deliver_until_settled(engine, start, passes=12):
    moment = start
    for _ in range(passes):
        deliver_due(engine, moment)
        moment += timedelta(hours=7)  # past the longest backoff
    return moment


@pytest.mark.parametrize(("channel", "contact"), BAD_CONTACTS)
def test_one_bad_contact_never_blocks_the_rest_and_its_dead_letter_alerts_the_case(
    committed, now, smtp, webhook, configure, channel, contact
):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_DELIVERY_MAX_ATTEMPTS=3,
              WORKUP_DELIVERY_BACKOFF_SECONDS=1)  # fmt: skip
    facility_with_contact(committed, "Bad Imaging", channel, contact)
    good = FacilityRef(name="Good Imaging", channel="email", contact="films@good-imaging.test")
    hook = FacilityRef(name="Hook Imaging", channel="webhook", contact=webhook.url)
    with Session(committed) as session:
        bad_case = open_case(
            session, seed_opening(mrn="BAD-1", facilities=[FacilityRef(name="Bad Imaging")]), actor="nav", now=now
        ).case_id
        good_case = open_case(
            session, seed_opening(mrn="GOOD-1", facilities=[good, hook]), actor="nav", now=now
        ).case_id
        session.commit()
    first = deliver_due(committed, now)
    assert first.delivered == 2 and first.retrying == 1  # the bad row failed; both others went out in the same pass
    assert sorted(mail.recipients[0] for mail in smtp.received) == ["films@good-imaging.test"]
    assert len(webhook.received) == 1
    moment = deliver_until_settled(committed, now + timedelta(seconds=5))
    with Session(committed) as session:
        bad = session.exec(select(Notification).where(Notification.case_id == bad_case)).one()
        assert (bad.status, bad.failures) == ("dead", 3)
        assert session.exec(select(Notification.status).where(Notification.case_id == good_case)).all() == [
            "delivered",
            "delivered",
        ]
        report = sweep_overdue(session, moment)
        again = sweep_overdue(session, moment)
        alert = session.exec(select(Alert).where(Alert.kind == "delivery_failed")).one()
        found = (alert.case_id, alert.notification_id, alert.status, alert.step_id)
        expected = (bad_case, bad.id, "open", None)
        session.commit()
    assert (report.delivery_failed, again.delivery_failed) == (1, 0)
    assert found == expected
    deliver_due(committed, moment)
    subjects = [mail.subject for mail in smtp.received if mail.recipients == ["nav@center.test"]]
    assert f"Case {bad_case}: Bad Imaging never received the prior film request" in subjects


def test_a_retried_dead_letter_that_is_delivered_resolves_its_alert(committed, now, smtp, configure):
    configure(WORKUP_DELIVERY_MAX_ATTEMPTS=2, WORKUP_DELIVERY_BACKOFF_SECONDS=1)
    smtp.refuse.add("films@moved-imaging.test")
    facility = FacilityRef(name="Moved Imaging", channel="email", contact="films@moved-imaging.test")
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(facilities=[facility]), actor="nav", now=now).case_id
        session.commit()
    moment = deliver_until_settled(committed, now, passes=4)
    with Session(committed) as session:
        sweep_overdue(session, moment)
        (dead_id,) = session.exec(select(Notification.id).where(Notification.status == "dead")).all()
        session.commit()
    smtp.refuse.clear()  # the facility fixed its mailbox
    with Session(committed) as session:
        assert retry_dead_notifications(session, actor="ops:kim", now=moment, all_dead=True) == [dead_id]
        session.commit()
    with Session(committed) as session:
        still = sweep_overdue(session, moment)  # pending again, not yet delivered: the alert stays open
        assert still.resolved == 0
        session.commit()
    assert deliver_due(committed, moment).delivered == 1
    with Session(committed) as session:
        resolved = sweep_overdue(session, moment + timedelta(minutes=5))
        alert = session.exec(select(Alert).where(Alert.kind == "delivery_failed")).one()
        assert resolved.resolved == 1 and (alert.case_id, alert.status) == (case_id, "resolved")


def test_a_run_request_waiting_past_the_limit_raises_one_alert_until_it_runs(session, now, configure):
    configure(WORKUP_RUN_STALLED_AFTER_MINUTES=15)
    case_id = open_case(session, seed_opening(facilities=[]), actor="nav", now=now).case_id
    assert sweep_overdue(session, now + timedelta(minutes=14)).runs_stalled == 0
    assert sweep_overdue(session, now + timedelta(minutes=15)).runs_stalled == 1
    assert sweep_overdue(session, now + timedelta(minutes=30)).runs_stalled == 0  # one alert per case
    alert = session.exec(select(Alert).where(Alert.kind == "run_stalled")).one()
    assert (alert.case_id, alert.status, alert.step_id) == (case_id, "open", None)
    session.execute(text("UPDATE case_runs SET status = 'done', attempts = 1, finished_at = :now"), {"now": now})
    report = sweep_overdue(session, now + timedelta(minutes=31))
    session.refresh(alert)
    assert report.resolved == 1 and alert.status == "resolved"


def test_a_failed_run_request_raises_an_alert_at_once(session, now):
    case_id = open_case(session, seed_opening(facilities=[]), actor="nav", now=now).case_id
    session.execute(
        text("UPDATE case_runs SET status = 'failed', attempts = 5, failures = 5, finished_at = :now"), {"now": now}
    )
    assert sweep_overdue(session, now + timedelta(minutes=1)).runs_stalled == 1
    assert session.exec(select(Alert.case_id).where(Alert.kind == "run_stalled")).all() == [case_id]


def test_a_notice_about_a_waiting_film_request_never_alerts_in_turn(session, now, configure):
    """The navigators' notice about a film request still unsent names the facility; waiting unsent
    itself, it raises no alert of its own (each would send another notice, doubling every sweep)."""
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts",
              WORKUP_DELIVERY_DELAYED_AFTER_MINUTES=60)  # fmt: skip
    facility = FacilityRef(name="Northside Imaging", channel="email", contact="films@northside.test")
    open_case(session, seed_opening(mrn="QUIET-1", facilities=[facility]), actor="nav", now=now)
    session.execute(text("UPDATE case_runs SET status = 'done', attempts = 1, finished_at = :now"), {"now": now})
    assert sweep_overdue(session, now + timedelta(minutes=61)).delivery_failed == 1
    notices = session.exec(select(Notification).where(Notification.kind == "delivery_failed_alert")).all()
    assert len(notices) == 2 and {notice.facility_id for notice in notices} != {None}
    for hours in (3, 6, 12):
        assert sweep_overdue(session, now + timedelta(hours=hours)).delivery_failed == 0
    assert len(session.exec(select(Alert).where(Alert.kind == "delivery_failed")).all()) == 1
