"""An idempotency key is bound to its request: the same request replays, any other is refused (issue 8).

Service calls on real PostgreSQL, the `workup` command as a real process, and generated changes of
every field under one key.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import select

from tests.factories import SUSPICIOUS_MAG, seed_opening
from tests.integration import test_cli
from tests.integration.test_cli import SEED_FLAGS, count, one_clear_line
from tracking.cases.errors import IdempotencyKeyReused, InvalidInput
from tracking.cases.models import CaseEvent, Patient
from tracking.cases.opening import FacilityRef, open_case, opening_hash
from tracking.cases.recording import record_event

workup = test_cli.workup  # the `workup` fixture: run the real command against the test database

TABLES = ("patients", "cases", "case_events", "steps", "outside_facilities", "prior_film_requests", "audit_log")


def counts(session) -> dict[str, int]:
    session.flush()
    return {table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def refused_without_writing(session, call) -> IdempotencyKeyReused:
    before = counts(session)
    with pytest.raises(IdempotencyKeyReused) as raised, session.begin_nested():
        call()
    assert counts(session) == before
    return raised.value


# --- open_case -------------------------------------------------------------------------------------


def test_the_same_key_for_another_patient_is_refused_and_the_patient_not_created(session, now):
    first = open_case(session, seed_opening(), actor="nav", now=now, idempotency_key="open-A")
    other = seed_opening(mrn="TEST-OTHER-2", given_name="Other", family_name="Patient")
    error = refused_without_writing(
        session, lambda: open_case(session, other, actor="nav", now=now, idempotency_key="open-A")
    )
    assert "'open-A'" in str(error) and f"to open case {first.case_id}" in str(error)
    assert error.exit_code == 2 and error.key == "open-A"
    assert session.exec(select(Patient).where(Patient.mrn == "TEST-OTHER-2")).first() is None


def test_the_same_opening_replays_and_the_hash_is_stored(session, now):
    first = open_case(session, seed_opening(), actor="nav", now=now, idempotency_key="open-B")
    again = open_case(session, seed_opening(), actor="someone else", now=now + timedelta(hours=3),
                      idempotency_key="  open-B ")  # fmt: skip
    assert again.replayed and again.case_id == first.case_id and again.step_ids == first.step_ids
    stored = session.get(CaseEvent, first.event_id)
    assert stored.request_hash == opening_hash(seed_opening()) and len(stored.request_hash) == 64


def test_validation_makes_notations_the_same_request(session, now):
    first = open_case(session, seed_opening(birads="0"), actor="nav", now=now, idempotency_key="open-C")
    same = seed_opening(
        given_name="  Maren ",
        facilities=[
            FacilityRef(name="Test Northside Imaging", channel="email", contact="films@NORTHSIDE.test"),
            FacilityRef(name="Test Lakeview Health", channel="webhook", contact="http://127.0.0.1:9/priors"),
        ],
    )
    assert open_case(session, same, actor="nav", now=now, idempotency_key="open-C").case_id == first.case_id


def test_a_key_first_used_for_an_event_cannot_open_a_case(session, now):
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now,
                 idempotency_key="event-key")  # fmt: skip
    other = seed_opening(mrn="TEST-OTHER-3")
    error = refused_without_writing(
        session, lambda: open_case(session, other, actor="nav", now=now, idempotency_key="event-key")
    )
    assert "magnification_result event" in str(error)


def test_a_blank_key_is_refused_rather_than_ignored(session, now):
    with pytest.raises(InvalidInput, match="1 to 200 characters"):
        open_case(session, seed_opening(), actor="nav", now=now, idempotency_key="   ")


def test_rows_from_before_request_hashes_replay_as_before(session, now):
    """An event without request_hash (written before migration 0005) replays on case and kind alone."""
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    old_open_key = session.get(CaseEvent, opened.event_id).idempotency_key
    assert session.get(CaseEvent, opened.event_id).request_hash is None  # no caller key: nothing to bind
    replay = open_case(session, seed_opening(mrn="TEST-LEGACY-9"), actor="nav", now=now, idempotency_key=old_open_key)
    assert replay.replayed and replay.case_id == opened.case_id
    first = record_event(session, opened.case_id, "ultrasound_result", {"findings": "no mass"}, actor="rad", now=now)
    old_key = session.get(CaseEvent, first.event_id).idempotency_key
    again = record_event(session, opened.case_id, "ultrasound_result", {"findings": "something else"},
                         actor="rad", now=now, idempotency_key=old_key)  # fmt: skip
    assert again.replayed and again.event_id == first.event_id
    with pytest.raises(IdempotencyKeyReused):
        record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now,
                     idempotency_key=old_key)  # fmt: skip


# --- record_event ----------------------------------------------------------------------------------


def test_the_same_key_with_other_data_is_refused(session, now):
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    first = record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now,
                         idempotency_key="mag-1")  # fmt: skip
    changed = {**SUSPICIOUS_MAG, "birads": "4C"}
    error = refused_without_writing(
        session,
        lambda: record_event(
            session, opened.case_id, "magnification_result", changed, actor="rad", now=now, idempotency_key="mag-1"
        ),
    )
    assert str(error).startswith("idempotency key 'mag-1' was already used for a magnification_result event on case")
    assert session.get(CaseEvent, first.event_id).payload["birads"] == "4B"


def test_what_counts_as_the_same_event_request(session, now):
    """Validated data, and occurred_at as the caller gave it, in any notation of the same instant."""
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    at = now + timedelta(hours=1)
    first = record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad",
                         now=at, occurred_at="2026-03-02T10:30:00+01:00", idempotency_key="mag-2")  # fmt: skip
    same = {"birads": " 4b ", "morphology": "fine_pleomorphic", "distribution": "GROUPED"}
    for notation in ("2026-03-02T09:30:00Z", "2026-03-02T04:30:00-05:00", now.replace(minute=30)):
        again = record_event(session, opened.case_id, "magnification_result", same, actor="another user",
                             now=at + timedelta(days=1), occurred_at=notation, idempotency_key="mag-2")  # fmt: skip
        assert again.replayed and again.event_id == first.event_id
    for occurred_at in (None, "2026-03-02T09:31:00Z"):
        with pytest.raises(IdempotencyKeyReused):
            record_event(session, opened.case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=at,
                         occurred_at=occurred_at, idempotency_key="mag-2")  # fmt: skip


def test_no_occurred_at_keeps_replaying_at_a_later_moment(session, now):
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    first = record_event(session, opened.case_id, "ultrasound_result", {"findings": "no mass"}, actor="rad", now=now,
                         idempotency_key="us-1")  # fmt: skip
    later = record_event(session, opened.case_id, "ultrasound_result", {"findings": "no mass"}, actor="rad",
                         now=now + timedelta(days=3), idempotency_key="us-1")  # fmt: skip
    assert later.replayed and later.event_id == first.event_id


def test_the_same_key_on_another_case_is_refused(session, now):
    one = open_case(session, seed_opening(), actor="nav", now=now)
    two = open_case(session, seed_opening(mrn="TEST-SECOND-2", given_name="Second"), actor="nav", now=now)
    record_event(session, one.case_id, "ultrasound_result", {"findings": "no mass"}, actor="rad", now=now,
                 idempotency_key="us-2")  # fmt: skip
    error = refused_without_writing(
        session,
        lambda: record_event(
            session,
            two.case_id,
            "ultrasound_result",
            {"findings": "no mass"},
            actor="rad",
            now=now,
            idempotency_key="us-2",
        ),
    )
    assert f"on case {one.case_id}" in str(error)


# --- generated: any change of any field under one key is refused; an identical repeat replays ------

OPENING_CHANGES = {
    "mrn": st.text("ABCDEFGHJK0123456789-", min_size=1, max_size=20),
    "given_name": st.text(st.characters(categories=["L"]), min_size=1, max_size=20),
    "family_name": st.text(st.characters(categories=["L"]), min_size=1, max_size=20),
    "birth_date": st.dates(min_value=date(1920, 1, 1), max_value=date(2005, 12, 31)),
    "laterality": st.sampled_from(["left", "right", "bilateral"]),
    "density": st.sampled_from(["a", "b", "c", "d"]),
    "birads": st.sampled_from(["0", "3", "4A", "4B"]),
    "finding_type": st.sampled_from(["calcifications", "mass"]),
    "pathway": st.sampled_from([None, "calcifications"]),
    # the exam moment, up to 300 days before the `now` fixture (2026-03-02 09:00 UTC)
    "occurred_at": st.integers(min_value=0, max_value=300 * 24 * 60).map(
        lambda minutes: datetime(2026, 3, 2, 9, 0, tzinfo=UTC) - timedelta(minutes=minutes)
    ),
    "facilities": st.lists(
        st.builds(
            FacilityRef,
            name=st.sampled_from(["Gen North", "Gen Lake", "Gen Harbor"]),
            channel=st.just("email"),
            contact=st.sampled_from(["films@north.test", "priors@lake.test"]),
        ),
        max_size=2,
    ),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(OPENING_CHANGES)), data=st.data())
def test_generated_opening_changes_under_one_key_are_refused(session, now, field, data):
    key = f"gen-open-{uuid.uuid4()}"
    base = seed_opening(mrn=f"GEN-{uuid.uuid4().hex[:12]}", facilities=[])
    first = open_case(session, base, actor="nav", now=now, idempotency_key=key)
    again = open_case(session, base.model_copy(), actor="nav", now=now + timedelta(minutes=5), idempotency_key=key)
    assert again.replayed and again.case_id == first.case_id
    value = data.draw(OPENING_CHANGES[field].filter(lambda candidate: candidate != getattr(base, field)))
    changed = type(base).model_validate({**base.model_dump(), field: value})
    if opening_hash(changed) == opening_hash(base):  # validation made it the same request (e.g. " x" and "x")
        assert open_case(session, changed, actor="nav", now=now, idempotency_key=key).replayed
        return
    error = refused_without_writing(session, lambda: open_case(session, changed, actor="nav", now=now,
                                                               idempotency_key=key))  # fmt: skip
    assert repr(key) in str(error)


EVENT_CHANGES = {
    "birads": ("magnification_result", st.sampled_from(["4A", "4C", "5", "3"])),
    "morphology": ("magnification_result", st.sampled_from(["amorphous", "round", "fine_linear"])),
    "distribution": ("magnification_result", st.sampled_from(["diffuse", "regional", "segmental", "linear"])),
    "kind": ("ultrasound_result", st.just({"findings": "no mass"})),
    "occurred_at": ("magnification_result", st.integers(min_value=1, max_value=600)),
    "case": ("magnification_result", st.just(None)),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=st.sampled_from(sorted(EVENT_CHANGES)), data=st.data())
def test_generated_event_changes_under_one_key_are_refused(session, now, change, data):
    key = f"gen-event-{uuid.uuid4()}"
    case_id = open_case(session, seed_opening(mrn=f"GEN-{uuid.uuid4().hex[:12]}"), actor="nav", now=now).case_id
    first = record_event(session, case_id, "magnification_result", SUSPICIOUS_MAG, actor="rad", now=now,
                         idempotency_key=key)  # fmt: skip
    again = record_event(session, case_id, "magnification_result", dict(SUSPICIOUS_MAG), actor="rad",
                         now=now + timedelta(minutes=1), idempotency_key=key)  # fmt: skip
    assert again.replayed and again.event_id == first.event_id
    kind, strategy = EVENT_CHANGES[change]
    value = data.draw(strategy.filter(lambda candidate: candidate != SUSPICIOUS_MAG.get(change)))
    target, fields, occurred_at = case_id, dict(SUSPICIOUS_MAG), None
    if change in SUSPICIOUS_MAG:
        fields[change] = value
    elif change == "kind":
        fields = value
    elif change == "occurred_at":
        occurred_at = now - timedelta(minutes=value)
    else:
        target = open_case(session, seed_opening(mrn=f"GEN-{uuid.uuid4().hex[:12]}"), actor="nav", now=now).case_id
    error = refused_without_writing(
        session,
        lambda: record_event(
            session, target, kind, fields, actor="rad", now=now, occurred_at=occurred_at, idempotency_key=key
        ),
    )
    assert repr(key) in str(error)


# --- the `workup` command --------------------------------------------------------------------------


def with_mrn(flags: list[str], mrn: str) -> list[str]:
    changed = list(flags)
    changed[changed.index("--mrn") + 1] = mrn
    return changed


def test_cli_same_key_for_another_mrn_exits_2_and_creates_no_patient(workup, committed):
    first = workup("case", "open", *SEED_FLAGS, "--idempotency-key", "K-cli-1", "--json")
    assert first.returncode == 0, first.stderr
    before = {table: count(committed, table) for table in ("patients", "cases", "case_events", "audit_log")}
    second = workup("case", "open", *with_mrn(SEED_FLAGS, "CLI-OTHER-2"), "--idempotency-key", "K-cli-1")
    assert second.returncode == 2
    line = one_clear_line(second)
    assert line.startswith("error: idempotency key 'K-cli-1' was already used to open case")
    assert {table: count(committed, table) for table in before} == before
    with committed.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM patients WHERE mrn = 'CLI-OTHER-2'")).scalar_one() == 0
    again = workup("case", "open", *SEED_FLAGS, "--idempotency-key", "K-cli-1")
    assert again.returncode == 0 and "already opened (same idempotency key)" in again.stdout


def test_cli_event_replays_from_data_or_file_and_refuses_other_data(workup, committed, tmp_path):
    case_id = json.loads(workup("case", "open", *SEED_FLAGS, "--json").stdout)["case_id"]
    recorded = workup("event", "record", str(case_id), "magnification_result", "--data", json.dumps(SUSPICIOUS_MAG),
                      "--idempotency-key", "K-cli-ev", "--json")  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    event_file = tmp_path / "mag.json"
    event_file.write_text(json.dumps({"distribution": "grouped", "morphology": "fine_pleomorphic", "birads": "4b"}))
    replayed = workup("event", "record", str(case_id), "magnification_result", "--file", str(event_file),
                      "--idempotency-key", "K-cli-ev", "--json")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["replayed"] is True
    events = count(committed, "case_events")
    other = workup("event", "record", str(case_id), "magnification_result",
                   "--data", json.dumps({**SUSPICIOUS_MAG, "birads": "5"}), "--idempotency-key", "K-cli-ev")  # fmt: skip
    assert other.returncode == 2
    assert "'K-cli-ev'" in one_clear_line(other)
    assert count(committed, "case_events") == events


def test_hash_is_stored_only_for_caller_keys(session, now):
    open_case(session, seed_opening(), actor="nav", now=now)
    open_case(session, seed_opening(mrn="TEST-KEYED-1"), actor="nav", now=now, idempotency_key="keyed")
    hashes = dict(session.exec(select(CaseEvent.idempotency_key, CaseEvent.request_hash)).all())
    assert hashes["keyed"] is not None
    assert [value for key, value in hashes.items() if key.startswith("auto:")] == [None]
    assert session.exec(select(func.count()).select_from(CaseEvent)).one() == 2
