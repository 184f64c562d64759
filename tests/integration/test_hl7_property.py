"""Generated damage to real-feed messages: fields dropped, segments lost, codes unknown, statuses
and times garbled, the patient given a second open case. Whatever arrives, interpret() never raises
for a business reason, and the message is either applied to one step of the case it names (one
event through the engine, or one accession number linked), or queued (an inbox item with its reason), ignored or rejected with nothing written to any case.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import hl7
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlmodel import select

from tests.conftest import rolled_back_session
from tests.hl7_rules_support import CORPUS, NOW, message, run, seed_case, text
from tests.integration.test_hl7_results import open_case_for_same_patient
from tracking.cases.models import CaseEvent, Patient, Step
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.hl7.interpretation import MessageOutcome

os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "breast-workup-hypothesis"))

MESSAGES = sorted(path.name for path in CORPUS.glob("*.hl7"))
UNKNOWN_CODES = ["99999", "BR9", "397999999", "ZZZ", "", "77065-XX", "\\T\\"]
JUNK = ["", "F", "P", "C", "X", "Q", "2026", "20261399", "99999999999999", "^^^", "\\E\\", "é"]


@st.composite
def damaged(draw) -> str:
    """A corpus message with up to four pieces of damage, as raw text (CR between segments)."""
    segments = [segment.split("|") for segment in text(draw(st.sampled_from(MESSAGES))).split("\r")]
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(["drop_field", "junk_field", "unknown_code", "drop_segment", "repeat_segment"]))
        index = draw(st.integers(0, len(segments) - 1))
        fields = segments[index]
        first = 3 if fields[0] == "MSH" else 1  # MSH-1 and MSH-2 are the separators: damage past them
        if how == "drop_segment" and fields[0] != "MSH":
            segments.pop(index)
        elif how == "repeat_segment" and fields[0] != "MSH":
            segments.insert(index, list(fields))
        elif len(fields) > first:
            at = draw(st.integers(first, len(fields) - 1))
            if how == "drop_field":
                fields[at] = ""
            elif how == "junk_field":
                fields[at] = draw(st.sampled_from(JUNK))
            else:
                parts = fields[at].split("^")
                parts[0] = draw(st.sampled_from(UNKNOWN_CODES))
                fields[at] = "^".join(parts)
    return "\r".join("|".join(fields) for fields in segments)


def snapshot(session) -> dict[int, tuple]:
    steps = session.exec(select(Step).execution_options(populate_existing=True)).all()
    return {step.id: (step.status, step.scheduled_at, step.accession_number) for step in steps}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])  # fmt: skip
@given(raw=damaged(), second_case=st.booleans(), ordered=st.booleans())
def test_a_damaged_message_is_applied_to_one_step_or_queued_or_ignored(engine, raw, second_case, ordered):
    note(raw.replace("\r", "\n"))
    try:
        parsed = hl7.parse(raw)
    except Exception:  # malformed past parsing: the intake answers AR and never calls interpret()
        return
    with rolled_back_session(engine) as session:
        case_id = seed_case(session)
        if second_case:
            open_case_for_same_patient(session, "HL7-100")
        if ordered:
            run(session, "orm_o01_magnification.hl7")
            run(session, "omi_o23_ultrasound.hl7")
        steps_before, events_before = snapshot(session), _events(session)
        patient_before = _patient(session)
        result = run(session, parsed, now=NOW)
        changed = {step_id for step_id, state in snapshot(session).items()
                   if step_id in steps_before and steps_before[step_id] != state}  # fmt: skip
        events = _events(session) - events_before
        note(f"{result.outcome}: {result.detail}")
        event(str(result.outcome))
        assert result.outcome in set(MessageOutcome)
        assert result.detail.strip()
        if result.outcome == MessageOutcome.applied:
            # One event through the engine (whose decision may move other steps of that case, e.g. a
            # final assessment completed by the read), or one step given its accession number.
            assert len(events) <= 1
            assert events or len(changed) <= 1, f"applied to {len(changed)} steps"
            cases = {session.get(Step, step_id).case_id for step_id in changed}
            cases |= {session.get(CaseEvent, event_id).case_id for event_id in events}
            assert cases <= {result.case_id}, f"{cases} written, {result.case_id} reported"
            return
        assert not changed and not events, "a message that was not applied changed a case"
        if result.outcome == MessageOutcome.queued:
            item = session.get(HL7InboxItem, result.inbox_item_id)
            assert item is not None and item.status == "open" and item.reason.strip()
        else:
            assert result.inbox_item_id is None
            assert _patient(session) == patient_before
        assert case_id


def _events(session) -> set[int]:
    return set(session.exec(select(CaseEvent.id)).all())


def _patient(session) -> tuple:
    patient = session.exec(
        select(Patient).where(Patient.mrn == "HL7-100").execution_options(populate_existing=True)
    ).one()
    return (patient.phones, patient.address, patient.preferred_language, patient.family_name)


# What the corpus says about its patients: none of it may reach the message log's detail or an audit row.
PHI = ["HL7-100", "HL7-200", "HL7-300", "123-45-6789", "Testcase", "Maren", "Brien", "Siobhan", "Nobody",
       "19680412", "1968-04-12", "5550177", "5550199", "5550111", "555-0177", "Elm Street", "Harbour"]  # fmt: skip


def test_every_corpus_message_is_read_and_its_log_detail_names_no_one(session):
    """The undamaged corpus, each message alone against the seed case: none raises, each has an outcome,
    and neither the detail kept in the message log nor any audit row carries a name, MRN, phone or address."""
    from tracking.audit import AuditEntry

    seed_case(session)
    for name in MESSAGES:
        result = run(session, message(name))
        assert result.outcome in set(MessageOutcome), name
        leaked = [value for value in PHI if value.lower() in result.detail.lower()]
        assert not leaked, f"{name}: {leaked} in {result.detail!r}"
    audits = " ".join(str(entry.detail) for entry in session.exec(select(AuditEntry)).all())
    assert not [value for value in PHI if value in audits]
