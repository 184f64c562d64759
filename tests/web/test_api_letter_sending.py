"""POST /api/letters/{letter_id}/send: navigators queue a letter by fax or email; bad requests are clear 4xx."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.letters_support import T1, open_letter_case
from tracking.letters.service import mark_letter_sent, produce_letter

NOW = T1.replace(hour=15)


@pytest.fixture
def tls(configure):
    configure(WORKUP_SMTP_STARTTLS="true", WORKUP_SMTP_SSL="false", WORKUP_FAX_GATEWAY="{number}@fax.center.test")


@pytest.fixture
def letters(committed) -> dict[str, int]:
    with Session(committed) as session:
        case_id = open_letter_case(session, mrn="API-SEND-1", given_name="Rosalind", family_name="Okafor",
                                   density="c", birads_read="4B", missed=False).case_id  # fmt: skip
        made = {kind: produce_letter(session, case_id, kind, actor="nav", now=NOW)[0].id
                for kind in ("prior_film_request", "referrer_report")}  # fmt: skip
        made["email"] = produce_letter(session, case_id, "referrer_report", actor="nav", now=NOW,
                                       channel="email")[0].id  # fmt: skip
        made["sent"] = produce_letter(session, case_id, "prior_film_request", actor="nav", now=NOW)[0].id
        mark_letter_sent(session, made["sent"], actor="nav", now=NOW)
        session.commit()
    return made


def queued(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT kind, recipient FROM notifications ORDER BY id"))]


def test_a_navigator_queues_letters_by_fax_and_email(api_for, letters, tls, committed, users):
    client = api_for("navigator")
    fax = client.post(f"/api/letters/{letters['prior_film_request']}/send")
    assert fax.status_code == 202, fax.text
    assert fax.json() | {"notification_id": 0} == {
        "letter_id": letters["prior_film_request"], "case_id": fax.json()["case_id"], "notification_id": 0,
        "channel": "fax", "address": "16175550100@fax.center.test", "status": "queued",
    }  # fmt: skip
    by_email = client.post(f"/api/letters/{letters['email']}/send", json={"to": "ruiz@clinic.test"})
    assert by_email.status_code == 202, by_email.text
    assert (by_email.json()["channel"], by_email.json()["address"]) == ("email", "ruiz@clinic.test")
    assert queued(committed) == [("letter", "16175550100@fax.center.test"), ("letter", "ruiz@clinic.test")]
    with committed.connect() as connection:
        actors = connection.execute(text("SELECT actor FROM audit_log WHERE action = 'letter.send_queued'")).scalars()
        assert list(actors) == [users["navigator"]] * 2


@pytest.mark.parametrize(
    ("letter", "body", "status", "says"),
    [
        ("unknown", None, 404, "letter 987654 does not exist"),
        ("sent", None, 422, "already sent"),
        ("referrer_report", None, 422, "no fax number is recorded for them"),
        ("referrer_report", {"to": "not a number"}, 422, "is not a valid fax number"),
        ("email", {"to": "ruiz at clinic"}, 422, "is not a valid email address"),
        ("referrer_report", {"to": "+16175550199", "channel": "email"}, 422, None),
        ("referrer_report", {"to": ""}, 422, None),
    ],
)
def test_bad_requests_are_clear_and_queue_nothing(api_for, letters, tls, committed, letter, body, status, says):
    response = api_for("navigator").post(f"/api/letters/{letters.get(letter, 987654)}/send", json=body)
    assert response.status_code == status, response.text
    if says:
        assert says in response.json()["error"]
    assert queued(committed) == []


def test_plain_smtp_is_refused_naming_the_settings(api_for, letters, configure, committed):
    configure(WORKUP_SMTP_STARTTLS="false", WORKUP_SMTP_SSL="false", WORKUP_FAX_GATEWAY="{number}@fax.center.test")
    response = api_for("navigator").post(f"/api/letters/{letters['prior_film_request']}/send")
    assert response.status_code == 422
    assert (
        "WORKUP_SMTP_STARTTLS=true" in response.json()["error"] and "WORKUP_SMTP_SSL=true" in response.json()["error"]
    )
    assert queued(committed) == []


@pytest.mark.parametrize("role", ["radiologist", "ops", "read_only", "admin"])
def test_only_navigators_send_letters(api_for, letters, tls, committed, role):
    assert api_for(role).post(f"/api/letters/{letters['prior_film_request']}/send").status_code == 403
    assert queued(committed) == []
