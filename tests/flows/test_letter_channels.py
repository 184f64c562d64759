"""Letters to providers and facilities by email and by fax (an email-to-fax gateway), through the outbox,
to real TLS mail servers (aiosmtpd) on loopback: STARTTLS required, implicit TLS, and a plain one that
must never see a letter. The PDFs are read back with pdftotext."""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.flows.conftest import free_port
from tests.letters_support import T1, open_letter_case, pdf_text
from tests.tls_support import TLSMailSink, make_test_ca
from tracking.alerts.stuck_work import sweep_stuck_work, unresolved_stuck_work
from tracking.cases.errors import InvalidInput, NotFound
from tracking.letters.models import Letter
from tracking.letters.sending import SendRefused, send_letter
from tracking.letters.service import mark_letter_sent, produce_letter
from tracking.notify.delivery import deliver_due
from tracking.notify.models import Notification
from tracking.settings import REPO_ROOT

NOW = T1.replace(hour=15)  # letters are produced then; everything after counts from it
PHI = ("Rosalind", "Okafor", "LTR-C1", "1961-07-19", "Elm Street")
GATEWAY = "{number}@fax.center.test"


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("tls"))


def tls_settings(configure, sink: TLSMailSink, **extra) -> None:
    configure(
        WORKUP_SMTP_HOST="127.0.0.1", WORKUP_SMTP_PORT=sink.port, WORKUP_SMTP_CA_FILE=sink.ca.ca_file,
        WORKUP_SMTP_STARTTLS=str(sink.mode == "starttls").lower(), WORKUP_SMTP_SSL=str(sink.mode == "implicit").lower(),
        WORKUP_MAIL_FROM="letters@center.test", WORKUP_FAX_GATEWAY=GATEWAY, **extra,
    )  # fmt: skip


@pytest.fixture
def mail(configure, test_ca):
    """A mail server that requires STARTTLS; the settings trust the test CA and name the fax gateway."""
    sink = TLSMailSink(free_port(), test_ca, "starttls")
    sink.start()
    tls_settings(configure, sink)
    yield sink
    sink.stop()


@pytest.fixture
def case_id(committed) -> int:
    """A dense BI-RADS 4B case with a referring provider and prior films at a facility reached by fax."""
    with Session(committed) as session:
        seeded = open_letter_case(session, mrn="LTR-C1", given_name="Rosalind", family_name="Okafor", density="c",
                                  birads_read="4B", missed=False)  # fmt: skip
        session.commit()
    return seeded.case_id


def produce(engine, case_id: int, kind: str, **options) -> int:
    with Session(engine) as session:
        letter, _ = produce_letter(session, case_id, kind, actor="nav", now=NOW, **options)
        session.commit()
        return letter.id


def queue(engine, letter_id: int, to: str | None = None, at=NOW):
    with Session(engine) as session:
        queued = send_letter(session, letter_id, actor="nav", now=at, to=to)
        session.commit()
    return queued


def letter_row(engine, letter_id: int) -> Letter:
    with Session(engine) as session:
        return session.get(Letter, letter_id)


def letter_notification(engine) -> Notification:
    with Session(engine) as session:
        return session.exec(select(Notification).where(Notification.kind == "letter")).one()


def count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def the_pdf(received, tmp_path) -> tuple[str, bytes, str]:
    [(name, content_type, pdf)] = received.attachments()
    assert content_type == "application/pdf"
    return name, pdf, pdf_text(pdf, tmp_path, "received.pdf")


def test_fax_to_a_facility_goes_to_the_gateway_over_starttls(committed, case_id, mail, tmp_path):
    letter_id = produce(committed, case_id, "prior_film_request")
    assert letter_row(committed, letter_id).channel == "fax"  # the facility takes film requests by fax
    queued = queue(committed, letter_id)
    assert (queued.channel, queued.address) == ("fax", "16175550100@fax.center.test")
    assert letter_row(committed, letter_id).status == "produced"  # queued is not sent
    moment = NOW + timedelta(minutes=1)
    assert deliver_due(committed, moment).as_dict() == {"delivered": 1, "retrying": 0, "waiting": 0, "dead": 0}
    [received] = mail.received
    assert received.recipients == ["16175550100@fax.center.test"] and received.tls
    name, pdf, words = the_pdf(received, tmp_path)
    assert name == f"letter-{letter_id}.pdf"
    assert "Northside Imaging LTR-C1" in words and "+16175550100" in words and "Okafor" in words
    assert hashlib.sha256(pdf).hexdigest() == letter_row(committed, letter_id).pdf_sha256  # the letter recorded
    assert all(value not in received.message["Subject"] + received.text for value in PHI)
    assert f"letter {letter_id}" in received.text and "Riverside Breast Imaging Centre" in received.message["Subject"]
    sent = letter_row(committed, letter_id)
    assert (sent.status, sent.sent_at, sent.sent_by) == ("sent", moment, "system:delivery")
    assert deliver_due(committed, moment + timedelta(days=1)).delivered == 0  # never twice
    assert len(mail.received) == 1
    with committed.connect() as connection:
        actions = connection.execute(
            text("SELECT action, actor FROM audit_log WHERE action LIKE 'letter.%' ORDER BY id")
        )
        assert [tuple(row) for row in actions] == [
            ("letter.produced", "nav"), ("letter.send_queued", "nav"), ("letter.sent", "system:delivery")
        ]  # fmt: skip


def test_email_to_the_referring_provider_over_implicit_tls(committed, case_id, configure, test_ca, tmp_path):
    sink = TLSMailSink(free_port(), test_ca, "implicit")
    sink.start()
    try:
        tls_settings(configure, sink)
        letter_id = produce(committed, case_id, "referrer_report", channel="email")
        queued = queue(committed, letter_id, to="ruiz@clinic.test")
        assert (queued.channel, queued.address) == ("email", "ruiz@clinic.test")
        assert deliver_due(committed, NOW + timedelta(minutes=1)).delivered == 1
    finally:
        sink.stop()
    [received] = sink.received
    assert received.recipients == ["ruiz@clinic.test"] and received.tls
    _, _, words = the_pdf(received, tmp_path)
    assert "Okafor, Rosalind" in words and "Dr. Ana Ruiz" in words and "March 10, 2026" in words
    assert all(value not in received.message["Subject"] + received.text for value in PHI)
    assert letter_row(committed, letter_id).status == "sent"


def test_plain_smtp_is_refused_when_queueing_and_nothing_is_queued(committed, case_id, mail, configure):
    letter_id = produce(committed, case_id, "prior_film_request")
    configure(WORKUP_SMTP_STARTTLS="false", WORKUP_SMTP_SSL="false")
    with pytest.raises(SendRefused) as refused:
        queue(committed, letter_id)
    assert "plain SMTP" in str(refused.value)
    assert "WORKUP_SMTP_STARTTLS" in str(refused.value) and "WORKUP_SMTP_SSL" in str(refused.value)
    assert count(committed, "notifications") == 0 and letter_row(committed, letter_id).status == "produced"


def test_plain_smtp_at_send_time_dead_letters_without_sending(committed, case_id, mail, configure, test_ca):
    """Queued under TLS settings, then the settings turn plain: the letter never reaches the plain server."""
    letter_id = produce(committed, case_id, "prior_film_request")
    queue(committed, letter_id)
    plain = TLSMailSink(free_port(), test_ca, "plain")  # would accept anything
    plain.start()
    try:
        configure(WORKUP_SMTP_PORT=plain.port, WORKUP_SMTP_STARTTLS="false", WORKUP_SMTP_SSL="false")
        moment = NOW + timedelta(minutes=1)
        assert deliver_due(committed, moment).as_dict() == {"delivered": 0, "retrying": 0, "waiting": 0, "dead": 1}
    finally:
        plain.stop()
    assert plain.received == [] and mail.received == []
    row = letter_notification(committed)
    assert row.status == "dead" and "plain SMTP" in row.last_error and "WORKUP_SMTP_STARTTLS" in row.last_error
    assert letter_row(committed, letter_id).status == "produced"
    with Session(committed) as session:
        assert sweep_stuck_work(session, moment).delivery_failed == 1  # refused and alerted
        [alert] = unresolved_stuck_work(session, kinds=("delivery_failed",))
        session.commit()
    assert alert.case_id == case_id and alert.headline == "Northside Imaging LTR-C1 never received the letter"


def test_server_away_the_letter_waits_and_is_sent_when_it_is_back(committed, case_id, mail, configure):
    configure(WORKUP_DELIVERY_BACKOFF_SECONDS=60, WORKUP_DELIVERY_MAX_ATTEMPTS=2)
    letter_id = produce(committed, case_id, "referrer_report")  # to the referring provider, by fax
    queue(committed, letter_id, to="(617) 555-0199")
    mail.stop()
    moment = NOW
    for _ in range(6):  # far more tries than WORKUP_DELIVERY_MAX_ATTEMPTS: an outage never counts
        moment += timedelta(minutes=5)
        assert deliver_due(committed, moment).waiting == 1
    row = letter_notification(committed)
    assert (row.status, row.attempts, row.failures) == ("pending", 6, 0) and "receiver away" in row.last_error
    assert letter_row(committed, letter_id).status == "produced"
    later = NOW + timedelta(hours=3)  # past WORKUP_DELIVERY_DELAYED_AFTER_MINUTES (120): the case is told
    with Session(committed) as session:
        sweep_stuck_work(session, later)
        [alert] = unresolved_stuck_work(session, kinds=("delivery_failed",))
        session.commit()
    assert alert.headline == "The receiver has not received the letter yet: it is still waiting to be sent"
    mail.start()
    assert deliver_due(committed, later).delivered == 1
    assert [received.recipients for received in mail.received] == [["16175550199@fax.center.test"]]
    assert letter_row(committed, letter_id).sent_at == later
    with Session(committed) as session:
        sweep_stuck_work(session, later)
        assert unresolved_stuck_work(session, kinds=("delivery_failed",)) == []  # delivered: the delay alert resolved
        session.commit()


def test_a_letter_that_renders_differently_is_refused(committed, case_id, mail, configure, tmp_path):
    folder = tmp_path / "letters"
    shutil.copytree(REPO_ROOT / "config" / "letters", folder)
    configure(WORKUP_LETTERS_DIR=folder)
    queued_first = produce(committed, case_id, "prior_film_request")
    queue(committed, queued_first)
    changed_later = produce(committed, case_id, "referrer_report")
    for kind in ("prior_film_request", "referrer_report"):  # a centre edits its templates after both were made
        template = folder / "en" / f"{kind}.html"
        edited = template.read_text(encoding="utf-8").replace("{% block body %}", "{% block body %}<p>Edited.</p>")
        assert edited != template.read_text(encoding="utf-8")
        template.write_text(edited, encoding="utf-8")
    with pytest.raises(SendRefused, match="differs from the letter recorded"):
        queue(committed, changed_later, to="+1 617 555 0199")
    moment = NOW + timedelta(minutes=1)
    assert deliver_due(committed, moment).dead == 1  # queued before the change: refused at send time
    row = letter_notification(committed)
    assert "differs from the letter recorded" in row.last_error and row.failures == 1
    assert mail.received == []
    assert {letter_row(committed, i).status for i in (queued_first, changed_later)} == {"produced"}
    with Session(committed) as session:
        assert sweep_stuck_work(session, moment).delivery_failed == 1
        session.commit()


def test_an_untrusted_certificate_is_never_sent_to(committed, case_id, mail, configure, tmp_path):
    other_ca = make_test_ca(tmp_path / "other", name="Someone Else")
    configure(WORKUP_SMTP_CA_FILE=other_ca.ca_file)  # the server's certificate is not signed by this one
    letter_id = produce(committed, case_id, "prior_film_request")
    queue(committed, letter_id)
    assert deliver_due(committed, NOW + timedelta(minutes=1)).retrying == 1  # counts: a configuration to fix
    row = letter_notification(committed)
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error and row.failures == 1
    assert mail.received == [] and letter_row(committed, letter_id).status == "produced"


def test_bad_requests_are_refused_naming_what_is_wrong(committed, case_id, mail, configure):
    facility_letter = produce(committed, case_id, "prior_film_request")
    referrer_letter = produce(committed, case_id, "referrer_report")
    patient_letter = produce(committed, case_id, "result")
    posted = produce(committed, case_id, "referrer_report", channel="print_post")
    with pytest.raises(NotFound, match="letter 987654 does not exist"):
        queue(committed, 987654)
    with pytest.raises(InvalidInput, match="no fax number is recorded"):
        queue(committed, referrer_letter)
    with pytest.raises(InvalidInput, match="'12' is not a valid fax number"):
        queue(committed, referrer_letter, to="12")
    with pytest.raises(SendRefused, match="letters to patients are printed and posted"):
        queue(committed, patient_letter)
    with pytest.raises(SendRefused, match="goes by print and post"):
        queue(committed, posted)
    configure(WORKUP_FAX_GATEWAY="")
    with pytest.raises(SendRefused, match="WORKUP_FAX_GATEWAY"):
        queue(committed, facility_letter)
    configure(WORKUP_FAX_GATEWAY=GATEWAY)
    queue(committed, facility_letter)
    with pytest.raises(InvalidInput, match="already queued for delivery"):
        queue(committed, facility_letter)
    with Session(committed) as session:
        mark_letter_sent(session, referrer_letter, actor="nav", now=NOW)
        session.commit()
    with pytest.raises(InvalidInput, match="already sent"):
        queue(committed, referrer_letter, to="+1 617 555 0199")
    assert count(committed, "notifications") == 1


def test_a_letter_marked_sent_by_hand_while_queued_is_not_sent_again(committed, case_id, mail):
    letter_id = produce(committed, case_id, "prior_film_request")
    queue(committed, letter_id)
    with Session(committed) as session:
        mark_letter_sent(session, letter_id, actor="nav", now=NOW)  # faxed by hand meanwhile
        session.commit()
    assert deliver_due(committed, NOW + timedelta(minutes=1)).dead == 1
    assert "already marked sent by nav" in letter_notification(committed).last_error
    assert mail.received == []


def test_a_server_without_starttls_is_refused_never_used_in_clear(committed, case_id, mail, configure, test_ca):
    letter_id = produce(committed, case_id, "prior_film_request")
    queue(committed, letter_id)
    plain = TLSMailSink(free_port(), test_ca, "plain")  # offers no STARTTLS
    plain.start()
    try:
        configure(WORKUP_SMTP_PORT=plain.port)  # WORKUP_SMTP_STARTTLS is still true
        assert deliver_due(committed, NOW + timedelta(minutes=1)).retrying == 1  # counts: a configuration to fix
    finally:
        plain.stop()
    assert plain.received == [] and "does not offer STARTTLS" in letter_notification(committed).last_error
    assert letter_row(committed, letter_id).status == "produced"
