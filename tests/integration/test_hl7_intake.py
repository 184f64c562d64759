"""The intake on a real database: store first, interpret in a savepoint, then ACK; duplicates once;
malformed kept as rejected; a database that is down gets AE; the log and its retention.

The interpreter is a fake passed in: these tests hold for whatever the real interpreter decides.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from tests.factories import seed_opening
from tests.hl7_support import FakeInterpreter, ack_code, corpus, echoed_control_id, message, parse_ack
from tracking.audit import audit
from tracking.cases.errors import GuardRefused
from tracking.cases.opening import open_case
from tracking.hl7.intake import receive, receive_message
from tracking.hl7.interpretation import Interpretation, MessageOutcome
from tracking.hl7.log import LogFilters, list_messages
from tracking.hl7.retention import prune_messages
from tracking.pathway.decision import Refusal

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def rows(engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text("SELECT * FROM hl7_messages ORDER BY id"))]


def test_a_message_is_stored_interpreted_and_acknowledged_aa(committed):
    fake = FakeInterpreter()
    raw = corpus("oru_r01_lf.hl7")
    ack = receive(committed, raw, now=NOW, interpreter=fake)
    assert (ack_code(ack), echoed_control_id(ack)) == ("AA", "NS-ORU-0001")
    [row] = rows(committed)
    assert (row["sender"], row["control_id"], row["message_type"], row["trigger_event"], row["version"]) == (
        "RIS^NORTHSIDE", "NS-ORU-0001", "ORU", "R01", "2.5.1",
    )  # fmt: skip
    assert (row["outcome"], row["detail"], row["ack_code"], row["charset"]) == (
        "applied", "applied by the test", "AA", "utf-8",
    )  # fmt: skip
    assert bytes(row["raw"]) == raw and row["received_at"] == NOW
    [call] = fake.calls
    assert (call["message_id"], call["sender"], call["now"]) == (row["id"], "RIS^NORTHSIDE", NOW)
    assert "ZDS" not in str(call["message"]) and "\\T\\" in str(call["message"]), "no Z-segment, escapes intact"


def test_the_interpreters_case_and_inbox_item_are_recorded(committed):
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(), actor="test", now=NOW).case_id
        session.commit()
    fake = FakeInterpreter(Interpretation(MessageOutcome.queued, "two candidate cases", case_id, inbox_item_id=77))
    receipt = receive_message(committed, message("Q-1"), now=NOW, interpreter=fake)
    assert (receipt.ack_code, receipt.outcome, receipt.case_id) == ("AA", MessageOutcome.queued, case_id)
    [row] = rows(committed)
    assert (row["outcome"], row["case_id"], row["inbox_item_id"], row["detail"]) == (
        "queued", case_id, 77, "two candidate cases",
    )  # fmt: skip


def test_a_duplicate_is_acknowledged_aa_stored_once_and_not_interpreted_again(committed):
    fake = FakeInterpreter()
    first = receive_message(committed, message("DUP-1"), now=NOW, interpreter=fake)
    again = receive_message(committed, message("DUP-1"), now=NOW + timedelta(minutes=1), interpreter=fake)
    assert (again.ack_code, again.duplicate, again.message_id) == ("AA", True, first.message_id)
    assert echoed_control_id(again.ack) == "DUP-1"
    assert len(fake.calls) == 1
    [row] = rows(committed)
    assert row["duplicates"] == 1
    other_sender = receive_message(committed, message("DUP-1", sender="PACS|NORTHSIDE"), now=NOW, interpreter=fake)
    assert not other_sender.duplicate and len(rows(committed)) == 2, "control ids are unique per sender"


def waiting_on_a_lock(engine) -> bool:
    with engine.connect() as connection:
        return (
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            > 0
        )


def wait_until(condition, what: str, deadline_seconds: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


class HeldInterpreter(FakeInterpreter):
    """Holds its transaction open until released, so a second delivery of the same message arrives meanwhile."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, session, message, **kwargs):
        result = super().__call__(session, message, **kwargs)
        self.entered.set()
        assert self.release.wait(timeout=30)
        return result


def deliver_twice_at_once(engine, held: HeldInterpreter, deliver) -> None:
    """deliver("first") until the interpreter holds its transaction open, deliver("second") until it waits
    on the first's row, then let both finish."""
    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    assert held.entered.wait(timeout=20)
    second = threading.Thread(target=deliver, args=("second",))
    second.start()
    wait_until(lambda: waiting_on_a_lock(engine), "the second delivery to wait on the first's row")
    held.release.set()
    first.join(timeout=30)
    second.join(timeout=30)


@pytest.mark.race
def test_the_same_message_from_two_connections_at_once_is_stored_and_interpreted_once(committed):
    held = HeldInterpreter()
    receipts = {}

    def deliver(name: str) -> None:
        receipts[name] = receive_message(committed, message("RACE-1"), now=NOW, interpreter=held)

    deliver_twice_at_once(committed, held, deliver)
    assert [receipts[name].ack_code for name in ("first", "second")] == ["AA", "AA"]
    assert (receipts["first"].duplicate, receipts["second"].duplicate) == (False, True)
    assert len(held.calls) == 1
    [row] = rows(committed)
    assert (row["outcome"], row["duplicates"]) == ("applied", 1)


def test_an_interpreter_that_fails_leaves_the_message_queued_with_the_reason_and_its_writes_undone(committed, caplog):
    class Failing(FakeInterpreter):
        def __call__(self, session, message, *, message_id, sender, now):
            audit(session, actor="interpreter", action="hl7.test_write", at=now, message_id=message_id)
            session.flush()
            raise KeyError(message["PID.F5.R1.C1"] + " " + message["PID.F3.R1.C1"])  # a bug quoting the data

    caplog.set_level(logging.DEBUG, logger="tracking.hl7")
    raw = message("FAIL-1", body=("PID|1||MRN9^^^NORTHSIDE^MR||Secretname^Ada",))
    receipt = receive_message(committed, raw, now=NOW, interpreter=Failing())
    assert (receipt.ack_code, receipt.outcome) == ("AA", MessageOutcome.queued)
    assert "FAIL-1" in caplog.text and "KeyError" in caplog.text, "the log names the control id and the error"
    assert "Secretname" not in caplog.text and "MRN9" not in caplog.text, "never the data"
    [row] = rows(committed)
    assert (row["outcome"], row["ack_code"]) == ("queued", "AA")
    assert row["detail"] == "Not interpreted: the interpreter failed (KeyError)"
    with committed.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_log WHERE action = 'hl7.test_write'")).scalar() == 0


def test_a_guard_refusal_in_the_interpreter_is_kept_in_words(committed):
    refused = FakeInterpreter(error=GuardRefused(Refusal("Magnification views are not done yet", guard="G1")))
    receipt = receive_message(committed, message("GUARD-1"), now=NOW, interpreter=refused)
    assert receipt.ack_code == "AA"
    assert rows(committed)[0]["detail"] == "Not interpreted: G1: Magnification views are not done yet"


def test_an_interpreter_returning_nonsense_is_a_failure_too(committed):
    receipt = receive_message(committed, message("ODD-1"), now=NOW, interpreter=lambda *args, **kwargs: "applied")
    assert (receipt.outcome, rows(committed)[0]["outcome"]) == (MessageOutcome.queued, "queued")


def test_a_rejection_by_the_interpreter_is_answered_ar_and_a_corrected_resend_is_read_again(committed):
    rejecting = FakeInterpreter(Interpretation(MessageOutcome.rejected, "OBR-4 is empty"))
    receipt = receive_message(committed, message("REJ-1"), now=NOW, interpreter=rejecting)
    ack = parse_ack(receipt.ack)
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["ERR.F8"]) == ("AR", "REJ-1", "OBR-4 is empty")
    again = receive_message(committed, message("REJ-1"), now=NOW, interpreter=FakeInterpreter())
    assert (again.ack_code, again.duplicate) == ("AA", False)
    assert [(row["outcome"], row["ack_code"]) for row in rows(committed)] == [("rejected", "AR"), ("applied", "AA")]


def test_a_malformed_message_is_answered_ar_and_kept_as_rejected(committed):
    fake = FakeInterpreter()
    receipt = receive_message(committed, corpus("unknown_charset.hl7"), now=NOW, interpreter=fake)
    ack = parse_ack(receipt.ack)
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["ERR.F3.R1.C1"]) == ("AR", "NS-ORU-0012", "103")
    assert fake.calls == []
    [row] = rows(committed)
    assert (row["outcome"], row["ack_code"], row["control_id"], row["sender"]) == (
        "rejected", "AR", "NS-ORU-0012", "RIS^NORTHSIDE",
    )  # fmt: skip
    assert "EBCDIC" in row["detail"] and bytes(row["raw"]) == corpus("unknown_charset.hl7")
    nothing = receive_message(committed, b"\x00\x01 not hl7 at all", now=NOW, interpreter=fake)
    assert nothing.ack_code == "AR" and rows(committed)[-1]["sender"] is None


@pytest.fixture
def database_down():
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 3})
    yield engine
    engine.dispose()


def test_a_database_that_is_down_gets_ae_so_the_sender_sends_again(database_down):
    fake = FakeInterpreter()
    receipt = receive_message(database_down, message("DOWN-1"), now=NOW, interpreter=fake)
    ack = parse_ack(receipt.ack)
    assert (ack["MSA.F1"], ack["MSA.F2"], ack["ERR.F3.R1.C1"]) == ("AE", "DOWN-1", "207")
    assert (receipt.message_id, receipt.outcome, fake.calls) == (None, None, [])


def test_a_malformed_message_is_still_ar_when_the_database_is_down(database_down):
    receipt = receive_message(database_down, corpus("malformed_no_msh.hl7"), now=NOW, interpreter=FakeInterpreter())
    assert (receipt.ack_code, receipt.message_id) == ("AR", None)


def test_the_default_interpreter_is_tracking_hl7_interpret(committed, monkeypatch):
    import tracking.hl7.interpret

    fake = FakeInterpreter()
    monkeypatch.setattr(tracking.hl7.interpret, "interpret", fake)
    receipt = receive_message(committed, message("DEFAULT-1"), now=NOW)
    assert receipt.ack_code == "AA" and [call["message_id"] for call in fake.calls] == [receipt.message_id]


def received(engine, control_id: str, at: datetime, outcome: MessageOutcome) -> None:
    fake = FakeInterpreter(Interpretation(outcome, f"test {outcome.value}"))
    receive_message(engine, message(control_id), now=at, interpreter=fake)


def test_prune_removes_messages_past_the_retention_but_never_queued_ones_and_audits_counts(committed, configure):
    configure(WORKUP_HL7_RETENTION_DAYS=30)
    old = NOW - timedelta(days=31)
    for control_id, outcome in [("P1", MessageOutcome.applied), ("P2", MessageOutcome.ignored),
                                ("P3", MessageOutcome.queued), ("P4", MessageOutcome.applied)]:  # fmt: skip
        received(committed, control_id, old, outcome)
    received(committed, "P5", NOW - timedelta(days=29), MessageOutcome.applied)
    with Session(committed) as session:
        assert prune_messages(session, NOW) == 3
        session.commit()
    assert sorted(row["control_id"] for row in rows(committed)) == ["P3", "P5"]
    with committed.connect() as connection:
        [detail] = connection.execute(
            text("SELECT detail FROM audit_log WHERE action = 'hl7.messages_pruned'")
        ).scalars()
    assert (detail["count"], detail["count_applied"], detail["count_ignored"], detail["retention_days"]) == (
        3,
        2,
        1,
        30,
    )
    with Session(committed) as session:
        assert prune_messages(session, NOW) == 0, "nothing more to prune: no second audit row"
        session.commit()


def test_a_queued_message_goes_once_every_inbox_item_it_raised_is_decided(committed, configure):
    configure(WORKUP_HL7_RETENTION_DAYS=30)
    old = NOW - timedelta(days=31)
    for control_id in ("Q-DECIDED", "Q-OPEN", "Q-NO-ITEM"):
        received(committed, control_id, old, MessageOutcome.queued)
    ids = {row["control_id"]: row["id"] for row in rows(committed)}
    with committed.begin() as connection:
        for control_id, status in [("Q-DECIDED", "dismissed"), ("Q-DECIDED", "open"), ("Q-OPEN", "open")]:
            decided = status != "open"
            connection.execute(
                text("INSERT INTO hl7_inbox_items (message_id, kind, reason, status, payload, details, created_at, "
                     "decided_by, decided_at, dismiss_reason) VALUES (:m, 'review', 'test', :s, '{}', '{}', :at, "
                     ":by, :decided_at, :why)"),
                {"m": ids[control_id], "s": status, "at": old, "by": "nav" if decided else None,
                 "decided_at": NOW if decided else None, "why": "seen" if decided else None},
            )  # fmt: skip
    with Session(committed) as session:
        assert prune_messages(session, NOW) == 0, "Q-DECIDED still has an open item"
        session.execute(text("UPDATE hl7_inbox_items SET status = 'confirmed', decided_by = 'nav', decided_at = :at "
                             "WHERE status = 'open' AND message_id = :m"), {"at": NOW, "m": ids["Q-DECIDED"]})  # fmt: skip
        assert prune_messages(session, NOW) == 1
        session.commit()
    assert sorted(row["control_id"] for row in rows(committed)) == ["Q-NO-ITEM", "Q-OPEN"]


def test_the_sweep_prunes_and_a_future_sweep_prunes_no_further_than_the_wall_clock(committed, configure):
    from tracking.alerts.sweep import sweep_overdue

    configure(WORKUP_HL7_RETENTION_DAYS=30)
    wall = datetime.now(UTC)
    received(committed, "S1", wall - timedelta(days=40), MessageOutcome.applied)
    received(committed, "S2", wall - timedelta(days=10), MessageOutcome.applied)
    with Session(committed) as session:
        report = sweep_overdue(session, wall + timedelta(days=365))  # a simulation, a year ahead
        session.commit()
    assert report.hl7_pruned == 1
    assert [row["control_id"] for row in rows(committed)] == ["S2"]


def test_the_log_lists_newest_first_with_filters_and_audits_the_cases_shown(committed):
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(), actor="test", now=NOW).case_id
        session.commit()
    fake = FakeInterpreter(Interpretation(MessageOutcome.applied, "booked", case_id))
    receive_message(committed, message("L1", kind="SIU^S12"), now=NOW, interpreter=fake)
    receive_message(committed, message("L2", kind="ORU^R01"), now=NOW + timedelta(hours=1), interpreter=fake)
    receive_message(committed, corpus("malformed_no_msh.hl7"), now=NOW + timedelta(hours=2), interpreter=fake)
    with Session(committed) as session:
        everything, total = list_messages(session, NOW, actor="tester")
        assert [row.control_id for row in everything] == [None, "L2", "L1"] and total == 3

        def only(**given) -> list[str | None]:
            found, _ = list_messages(session, NOW, actor="t", filters=LogFilters(**given))
            return [row.control_id for row in found]

        assert only(outcome=MessageOutcome.rejected) == [None]
        assert only(message_type="siu") == ["L1"]
        assert only(message_type="ORU^R01") == ["L2"] and only(message_type="ORU^R02") == []
        assert only(sender="ris") == ["L2", "L1"] and only(sender="RIS^NORTHSIDE") == ["L2", "L1"]
        assert only(sender="R_S") == [], "the sender filter's wildcards are taken literally"
        assert only(since=NOW + timedelta(minutes=30)) == [None, "L2"]
        assert only(until=NOW + timedelta(minutes=30)) == ["L1"]
        assert everything[1].as_dict()["type"] == "ORU^R01" and "raw" not in everything[1].as_dict()
        session.commit()
    with committed.connect() as connection:
        details = connection.execute(
            text("SELECT detail FROM audit_log WHERE action = 'hl7.messages_listed' AND actor = 'tester'")
        ).scalars()
        assert [detail["case_ids"] for detail in details] == [[case_id]]
