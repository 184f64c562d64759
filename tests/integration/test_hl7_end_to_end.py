"""Issue 13's "done when", end to end: the real listener over a real MLLP socket with the real
interpreter and the default mapping file, then `workup hl7 messages --json` as a process.

Given a patient with an open case (MRN HL7-100, left calcifications, opened 2026-03-02),
when the RIS sends her order, her final magnification result, a result for a patient we do not
know, her new phone (ADT^A08), that A08 again, and a message with no MSH,
then each valid message is answered AA with its control id and the malformed one AR; the duplicate
is stored once; the order links its accession number and the result is recorded on her case; the
stranger's result waits in the HL7 inbox; her phone is the one the RIS sent; and the message log
lists every message with its outcome.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from tests.hl7_rules_support import CORPUS as RULES_CORPUS
from tests.hl7_rules_support import seed_case
from tests.hl7_support import MllpClient, corpus, parse_ack
from tests.integration.test_cli import workup  # noqa: F401 - fixture
from tracking.cases.models import CaseEvent, Patient, Step
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.hl7.interpret import interpret
from tracking.hl7.mllp import Listener, ListenerThread


def rules_message(name: str) -> bytes:
    """A corpus message as a feed sends it: CR between segments."""
    lines = (RULES_CORPUS / name).read_text(encoding="utf-8").splitlines()
    return ("\r".join(line for line in lines if line.strip()) + "\r").encode()


@pytest.fixture
def listener(committed):
    thread = ListenerThread(Listener(committed, host="127.0.0.1", port=0, interpreter=interpret, workers=2,
                                     max_message_bytes=1024 * 1024))  # fmt: skip
    address = thread.start()
    yield address
    thread.stop(grace=5)


def test_a_ris_feed_over_mllp_is_acknowledged_applied_queued_and_logged(listener, committed, workup):  # noqa: F811
    with Session(committed) as session:
        case_id = seed_case(session)
        session.commit()
    sent = [
        ("orm_o01_magnification.hl7", "ORM-100"),
        ("oru_r01_magnification_final.hl7", "ORU-100"),
        ("oru_r01_unknown_patient.hl7", "ORU-200"),
        ("adt_a08_phone.hl7", "ADT-100"),
        ("adt_a08_phone.hl7", "ADT-100"),  # the RIS did not see our ACK and sends it again
    ]
    with MllpClient(listener) as client:
        acks = [parse_ack(client.exchange(rules_message(name))) for name, _ in sent]
        malformed = parse_ack(client.exchange(corpus("malformed_no_msh.hl7")))

    assert [(str(ack["MSA.F1"]), str(ack["MSA.F2"])) for ack in acks] == [("AA", control) for _, control in sent]
    assert str(malformed["MSA.F1"]) in {"AR", "AE"} and str(malformed["ERR.F3.R1.C1"]) == "100"

    with Session(committed) as session:
        magnification = session.exec(
            select(Step).where(Step.case_id == case_id, Step.kind == "magnification_views")
        ).one()
        assert magnification.accession_number == "ACC-100"
        assert magnification.status == "completed"
        result = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                      CaseEvent.kind == "magnification_result")).one()  # fmt: skip
        assert result.payload["birads"] == "4B" and result.actor.startswith("hl7:")
        waiting = session.exec(select(HL7InboxItem).where(HL7InboxItem.status == "open")).all()
        assert [item.case_id for item in waiting] == [None], "the stranger's result waits for a person"
        patient = session.exec(select(Patient).where(Patient.mrn == "HL7-100")).one()
        assert {"label": "mobile", "number": "+14135550177"} in patient.phones

    listed = workup("hl7", "messages", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    outcomes = {row["control_id"]: row["outcome"] for row in rows if row["control_id"]}
    assert outcomes == {"ORM-100": "applied", "ORU-100": "applied", "ORU-200": "queued", "ADT-100": "applied"}
    assert len(rows) == 5, "four messages stored once each, and the malformed one kept as rejected"
    assert [row["outcome"] for row in rows if not row["control_id"]] == ["rejected"]
    assert [row["duplicates"] for row in rows if row["control_id"] == "ADT-100"] == [1]
    assert "Testcase" not in listed.stdout and "5550177" not in listed.stdout, "never the message's content"
