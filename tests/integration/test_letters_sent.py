"""Marking letters sent on real PostgreSQL: the lay summary completes its result-letter step and
records the density statement it carried; batch printing reprints, never records; letters not sent
by their deadline raise an alert that marking them sent resolves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from tests.letters_support import DENSE, NOT_DENSE, T1, letters_copy, open_letter_case, pdf_text
from tracking.alerts.models import Alert
from tracking.alerts.service import list_alerts
from tracking.alerts.sweep import sweep_overdue
from tracking.audit import AuditEntry
from tracking.cases.errors import GuardRefused, InvalidInput, NotFound
from tracking.cases.models import CaseEvent, Step
from tracking.cases.recording import record_event
from tracking.letters.batch import print_batch
from tracking.letters.marking import mark_sent
from tracking.letters.models import Letter
from tracking.letters.service import mark_letter_sent, produce_due_letter, produce_letter, sha256

NOW = T1.replace(hour=15)  # the letter is produced the afternoon the views were read
LATER = NOW + timedelta(hours=2)


@pytest.fixture
def dense_case(session):
    return open_letter_case(session, mrn="SNT-D1", given_name="Rosalind", family_name="Okafor", density="d",
                            birads_read="4B")  # fmt: skip


@pytest.fixture
def not_dense_case(session):
    return open_letter_case(session, mrn="SNT-N1", given_name="Imelda", family_name="Varga", density="a",
                            birads_read="3", facility=False, missed=False)  # fmt: skip


def result_steps(session, case_id: int) -> list[Step]:
    return list(session.exec(select(Step).where(Step.case_id == case_id, Step.kind == "result_letter")))


def events(session, case_id: int, kind: str = "result_letter_sent") -> list[CaseEvent]:
    return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)))


@pytest.mark.parametrize(
    ("fixture", "category", "statement", "words"),
    [("dense_case", "dense", DENSE, "the dense-tissue statement"),
     ("not_dense_case", "not_dense", NOT_DENSE, "the not-dense statement")],
)  # fmt: skip
def test_marking_the_lay_summary_sent_completes_the_step_with_its_density_statement(
    request, session, fixture, category, statement, words
):
    case_id = request.getfixturevalue(fixture).case_id
    letter, _ = produce_letter(session, case_id, "result", actor="nav:ann", now=NOW)
    [step] = result_steps(session, case_id)
    assert step.status == "pending" and letter.step_id == step.id

    sending = mark_sent(session, letter.id, actor="nav:ann", now=LATER)

    session.expire_all()
    [event] = events(session, case_id)
    assert event.payload == {"density_sentence_included": True}
    assert (event.actor, event.occurred_at, event.idempotency_key) == ("nav:ann", LATER, f"letter:{letter.id}:sent")
    assert session.get(Step, step.id).status == "completed"
    stored = session.get(Letter, letter.id)
    assert (stored.status, stored.sent_at, stored.sent_by) == ("sent", LATER, "nav:ann")
    assert (stored.sent_event_id, stored.sent_density, stored.sent_density_statement) == (event.id, category, statement)
    assert words in sending.note and f"the result-letter step is complete (event {event.id})" in sending.note
    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "letter.sent")).one()
    assert audit.detail == {"letter_id": letter.id, "channel": "print_post", "event_id": event.id, "density": category}


def test_a_step_already_completed_by_hand_still_lets_the_letter_be_marked_sent(session, dense_case):
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="nav:ann", now=NOW)
    by_hand = record_event(session, dense_case.case_id, "result_letter_sent", {"density_sentence_included": True},
                           actor="nav:bob", now=NOW + timedelta(hours=1))  # fmt: skip

    sending = mark_sent(session, letter.id, actor="nav:ann", now=LATER)

    assert [event.id for event in events(session, dense_case.case_id)] == [by_hand.event_id]  # no second event
    assert sending.letter.status == "sent" and sending.letter.sent_event_id is None
    assert (sending.letter.sent_density, sending.letter.sent_density_statement) == ("dense", DENSE)
    assert "Its result-letter step was already completed, so nothing else changed." in sending.note


def test_marking_sent_twice_is_refused_and_changes_nothing(session, dense_case):
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    mark_letter_sent(session, letter.id, actor="nav:ann", now=LATER)  # the channels helper's signature
    with pytest.raises(InvalidInput, match=f"letter {letter.id} was already marked sent"):
        mark_letter_sent(session, letter.id, actor="nav:bob", now=LATER + timedelta(hours=1))
    session.expire_all()
    stored = session.get(Letter, letter.id)
    assert (stored.sent_by, stored.sent_at) == ("nav:ann", LATER)
    assert len(events(session, dense_case.case_id)) == 1


def test_other_kinds_complete_no_step(session, dense_case):
    letter, _ = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    sending = mark_sent(session, letter.id, actor="nav:ann", now=LATER)
    assert (
        sending.note == f"Letter {letter.id} (report to the referring provider, case {dense_case.case_id}) marked sent."
    )
    assert events(session, dense_case.case_id) == []
    assert result_steps(session, dense_case.case_id)[0].status == "pending"
    assert (sending.letter.sent_event_id, sending.letter.sent_density) == (None, None)


def test_a_lay_summary_without_the_statement_is_refused_by_the_pathway_and_nothing_is_written(session, dense_case):
    """A letter whose inputs carry no density statement (inserted by hand: templates always carry it)
    cannot complete the step without an override reason: the guard refuses, nothing is written."""
    made, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    inputs = {**made.inputs, "assessment": {**made.inputs["assessment"], "density_statement": ""}}
    bare = Letter(case_id=made.case_id, kind="result", language="en", recipient_kind="patient", step_id=made.step_id,
                  channel="print_post", produced_by="t", produced_at=NOW, inputs=inputs, pdf_sha256=made.pdf_sha256)  # fmt: skip
    session.add(bare)
    session.flush()
    with pytest.raises(GuardRefused, match="density statement"), session.begin_nested():
        mark_sent(session, bare.id, actor="nav:ann", now=LATER)
    session.expire_all()
    assert session.get(Letter, bare.id).status == "produced"
    assert events(session, dense_case.case_id) == []
    assert result_steps(session, dense_case.case_id)[0].status == "pending"


def test_unknown_letter_and_sending_before_production_are_refused(session, dense_case):
    with pytest.raises(NotFound, match="letter 424242 does not exist"):
        mark_sent(session, 424242, actor="t", now=LATER)
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    with pytest.raises(InvalidInput, match="cannot be sent before it was produced"):
        mark_sent(session, letter.id, actor="t", now=NOW - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("UPDATE letters SET sent_event_id = :event WHERE id = :id", "can only change by being marked sent"),
        ("UPDATE letters SET sent_density = 'dense', sent_density_statement = 'x' WHERE id = :id",
         "can only change by being marked sent"),
        ("UPDATE letters SET status = 'sent', sent_at = now(), sent_by = 'x', sent_event_id = :event, "
         "sent_density = 'dense', sent_density_statement = 'x', kind = 'referrer_report' WHERE id = :id",
         "can only be marked sent"),
    ],
)  # fmt: skip
def test_only_marking_sent_may_set_what_the_sending_recorded(session, dense_case, statement, says):
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    event_id = session.execute(text("SELECT max(id) FROM case_events")).scalar_one()
    with pytest.raises(DBAPIError, match=says), session.begin_nested():
        session.execute(text(statement), {"id": letter.id, "event": event_id})
    sent = mark_sent(session, letter.id, actor="t", now=LATER).letter
    with pytest.raises(DBAPIError, match="already marked sent"), session.begin_nested():
        session.execute(text("UPDATE letters SET sent_event_id = NULL WHERE id = :id"), {"id": sent.id})


def test_produce_due_letter_refuses_a_second_while_one_waits(session, dense_case):
    first, _ = produce_due_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    with pytest.raises(InvalidInput, match=f"letter {first.id} for case {dense_case.case_id} is already produced"):
        produce_due_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    assert len(session.exec(select(Letter)).all()) == 1
    mark_sent(session, first.id, actor="t", now=LATER)
    other, _ = produce_due_letter(session, dense_case.case_id, "referrer_report", actor="t", now=LATER)
    assert other.kind == "referrer_report"


def test_a_batch_prints_each_letter_in_order_and_records_none(session, dense_case, not_dense_case, tmp_path):
    spanish, _ = produce_letter(session, dense_case.case_id, "result", language="es", actor="t", now=NOW)
    report, _ = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    plain, _ = produce_letter(session, not_dense_case.case_id, "result", actor="t", now=NOW)
    order = [plain.id, spanish.id, report.id]

    batch = print_batch(session, order, actor="nav:ann", now=LATER)
    again = print_batch(session, order, actor="nav:ann", now=LATER)

    assert batch.differing == [] and batch.letter_ids == order and again.pdf == batch.pdf
    words = pdf_text(batch.pdf, tmp_path, "batch.pdf")
    starts = [words.index(title) for title in ("Your mammogram results", "Los resultados de su mamografía",
                                               "Diagnostic breast imaging report")]  # fmt: skip
    assert starts == sorted(starts)  # pages in the order asked for
    assert NOT_DENSE in words and "Imelda Varga" in words and "Okafor" in words
    assert "Su tejido mamario es denso." in words
    assert session.exec(select(Letter)).all().__len__() == 3  # printing records no letter
    reprints = session.exec(select(AuditEntry).where(AuditEntry.action == "letter.reprinted")).all()
    assert sorted(entry.detail["letter_id"] for entry in reprints) == sorted(order * 2)
    assert all(entry.detail["same_as_recorded"] for entry in reprints)
    with pytest.raises(NotFound, match="letter 999999 does not exist"):
        print_batch(session, [plain.id, 999999], actor="t", now=LATER)
    with pytest.raises(InvalidInput, match="choose at least one letter"):
        print_batch(session, [], actor="t", now=LATER)


def test_a_batch_says_which_copies_differ_from_the_recorded_bytes(session, dense_case, configure, tmp_path):
    letter, pdf = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    assert sha256(pdf) == letter.pdf_sha256
    configure(WORKUP_LETTERS_DIR=letters_copy(tmp_path, ("en/referrer_report.html", "</h1>", " (copy)</h1>")))
    assert print_batch(session, [letter.id], actor="t", now=LATER).differing == [letter.id]


def unsent_alerts(session, letter_id: int) -> list[Alert]:
    return list(session.exec(select(Alert).where(Alert.kind == "letter_unsent", Alert.letter_id == letter_id)))


def test_a_letter_not_sent_within_the_setting_raises_an_alert_that_sending_resolves(session, dense_case, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="navigators@centre.test")
    letter, _ = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    deadline = NOW + timedelta(days=3)  # WORKUP_LETTER_SEND_WITHIN_DAYS defaults to 3
    assert sweep_overdue(session, deadline - timedelta(minutes=1)).letters_unsent == 0
    assert unsent_alerts(session, letter.id) == []

    report = sweep_overdue(session, deadline + timedelta(minutes=1))
    assert report.letters_unsent == 1
    [alert] = unsent_alerts(session, letter.id)
    assert (alert.case_id, alert.status, alert.level, alert.step_id) == (dense_case.case_id, "open", 1, None)
    assert sweep_overdue(session, deadline + timedelta(minutes=2)).letters_unsent == 0  # one per letter
    notice = session.execute(text("SELECT kind, payload FROM notifications WHERE alert_id = :a"), {"a": alert.id}).one()
    assert notice.kind == "letter_unsent_alert" and notice.payload["letter_id"] == letter.id
    assert "Okafor" not in str(notice.payload) and "SNT-D1" not in str(notice.payload)
    [row] = [row for row in list_alerts(session, unresolved_only=True) if row.alert.kind == "letter_unsent"]
    assert row.headline == (
        f"Letter {letter.id} (report to the referring provider, produced 3 Mar 2026) is past its deadline and not "
        "marked sent: send it, then mark it sent on the letters page"
    )

    mark_sent(session, letter.id, actor="nav:ann", now=deadline + timedelta(hours=1))
    session.expire_all()
    [alert] = unsent_alerts(session, letter.id)
    assert (alert.status, alert.resolved_at) == ("resolved", deadline + timedelta(hours=1))
    assert sweep_overdue(session, deadline + timedelta(hours=2)).letters_unsent == 0


def test_the_lay_summary_is_late_at_its_steps_due_time(session, dense_case, configure):
    configure(WORKUP_LETTER_SEND_WITHIN_DAYS=0)  # the setting does not apply to a lay summary with a step
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    due = session.get(Step, letter.step_id).due_at
    assert due == T1 + timedelta(days=7)  # BI-RADS 4B
    sweep_overdue(session, due - timedelta(minutes=1))
    assert unsent_alerts(session, letter.id) == []
    sweep_overdue(session, due + timedelta(minutes=1))
    [alert] = unsent_alerts(session, letter.id)
    assert alert.status == "open"
    mark_sent(session, letter.id, actor="nav:ann", now=due + timedelta(hours=1))
    sweep_overdue(session, due + timedelta(hours=2))
    session.expire_all()
    assert [a.status for a in session.exec(select(Alert).where(Alert.case_id == dense_case.case_id,
                                                                 Alert.kind == "letter_unsent"))] == ["resolved"]  # fmt: skip
    assert session.get(Step, letter.step_id).status == "completed"


def test_the_sweep_resolves_an_alert_whose_letter_was_sent_outside_the_service(session, dense_case, configure):
    configure(WORKUP_LETTER_SEND_WITHIN_DAYS=0)
    letter, _ = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    sweep_overdue(session, NOW + timedelta(minutes=1))
    assert [a.status for a in unsent_alerts(session, letter.id)] == ["open"]
    session.execute(text("UPDATE letters SET status = 'sent', sent_at = :at, sent_by = 'sql' WHERE id = :id"),
                    {"at": LATER, "id": letter.id})  # fmt: skip
    sweep_overdue(session, LATER)
    session.expire_all()
    assert [a.status for a in unsent_alerts(session, letter.id)] == ["resolved"]


UNSENT_ALERT = (
    "INSERT INTO alerts (kind, letter_id, case_id, level, status, raised_at) "
    "VALUES (:kind, :letter, :case, 1, 'open', now())"
)


@pytest.mark.parametrize(
    ("kind", "with_letter", "constraint"),
    [("letter_unsent", False, "ck_alerts_letter_unsent_names_it"),
     ("case_stalled", True, "ck_alerts_letter_unsent_names_it"),
     ("letter_unsent", True, "uq_alerts_one_unresolved_per_letter")],
)  # fmt: skip
def test_the_database_keeps_one_unsent_alert_per_letter(session, dense_case, kind, with_letter, constraint):
    letter, _ = produce_letter(session, dense_case.case_id, "referrer_report", actor="t", now=NOW)
    values = {"kind": kind, "letter": letter.id if with_letter else None, "case": dense_case.case_id}
    if constraint.startswith("uq_"):
        session.execute(text(UNSENT_ALERT), values)
    with pytest.raises(DBAPIError, match=constraint), session.begin_nested():
        session.execute(text(UNSENT_ALERT), values)
