"""A film request that never left is an alert on its case, not a quiet "requested, 0 chases".

The mail server is away (a real aiosmtpd server, stopped): the request waits and is retried, never
counted as failed (outages are normal). Once it has waited WORKUP_DELIVERY_DELAYED_AFTER_MINUTES
the sweep raises one delivery alert on the case, saying it is still waiting; a notice to navigators
waits without one. When the server is back, the request goes, and the alert resolves by itself.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from tests.factories import seed_opening
from tests.flows.test_stalled_cases import CATCH_UP
from tracking.alerts.models import Alert
from tracking.alerts.stuck_work import unresolved_stuck_work
from tracking.alerts.sweep import sweep_overdue
from tracking.cases.opening import FacilityRef, open_case
from tracking.notify.delivery import deliver_due
from tracking.notify.models import Notification


def test_a_request_waiting_for_the_mail_server_alerts_its_case_and_resolves_once_sent(committed, now, smtp, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_DELIVERY_DELAYED_AFTER_MINUTES=60)
    facility = FacilityRef(name="Northside Imaging", channel="email", contact="films@northside.test")
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(mrn="DELAY-1", facilities=[facility]), actor="nav", now=now).case_id
        session.execute(CATCH_UP)
        session.commit()
    smtp.stop()  # the mail server goes away
    for minutes in (0, 10, 30, 50):
        deliver_due(committed, now + timedelta(minutes=minutes))
    with Session(committed) as session:
        request = session.exec(select(Notification).where(Notification.facility_id.is_not(None))).one()
        assert (request.status, request.failures) == ("pending", 0) and request.attempts >= 1
        assert sweep_overdue(session, now + timedelta(minutes=59)).delivery_failed == 0
        assert sweep_overdue(session, now + timedelta(minutes=61)).delivery_failed == 1
        assert sweep_overdue(session, now + timedelta(minutes=62)).delivery_failed == 0  # one alert, not one a pass
        session.commit()
        [alert] = unresolved_stuck_work(session, case_ids=[case_id])
        assert alert.notification_id == request.id
        assert (
            alert.headline
            == "Northside Imaging has not received the prior film request yet: it is still waiting to be sent"
        )
    smtp.start()  # back
    deliver_due(committed, now + timedelta(minutes=70))
    with Session(committed) as session:
        assert session.get(Notification, request.id).status == "delivered"
        sweep_overdue(session, now + timedelta(minutes=71))
        session.commit()
        assert unresolved_stuck_work(session, case_ids=[case_id]) == []
        kinds = [row.kind for row in session.exec(select(Alert).where(Alert.case_id == case_id))]
        assert kinds.count("delivery_failed") == 1
    assert "films@northside.test" in [address for mail in smtp.received for address in mail.recipients]
    notices = [mail.body for mail in smtp.received if "nav@center.test" in mail.recipients]
    assert len(notices) == 1, "the navigators were told once"
    assert notices[0].startswith(f"Case {case_id}: Northside Imaging has not received the prior film request yet")
