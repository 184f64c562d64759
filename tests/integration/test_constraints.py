"""Every rule the database enforces by itself: foreign keys, CHECKs, unique and partial indexes, triggers."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.factories import seed_opening
from tracking.cases.opening import open_case


@pytest.fixture
def seeded(session, now):
    """One opened seed case; returns ids the statements below refer to."""
    opened = open_case(session, seed_opening(), actor="nav", now=now)
    row = session.execute(
        text(
            "SELECT c.patient_id, s.id AS step_id, e.id AS event_id, p.facility_id "
            "FROM cases c JOIN steps s ON s.case_id = c.id AND s.kind = 'magnification_views' "
            "JOIN case_events e ON e.case_id = c.id JOIN prior_film_requests p ON p.case_id = c.id "
            "WHERE c.id = :id LIMIT 1"
        ),
        {"id": opened.case_id},
    ).one()
    session.flush()
    return {"case_id": opened.case_id, **row._mapping}


def violates(session, statement: str, params: dict, constraint: str) -> None:
    """The statement fails on the named constraint, and the session can go on afterwards."""
    savepoint = session.begin_nested()
    with pytest.raises((IntegrityError, DBAPIError)) as failure:
        session.execute(text(statement), params)
        session.flush()
    savepoint.rollback()
    assert constraint in str(failure.value.orig)


CASE_INSERT = (
    "INSERT INTO cases (patient_id, finding_type, laterality, density, birads, pathway_name, pathway_version, "
    "status, opened_at, version) VALUES (:patient_id, :finding, :side, :density, :birads, 'calcifications', 1, "
    ":status, now(), 1)"
)
GOOD_CASE = {"finding": "calcifications", "side": "left", "density": "c", "birads": "0", "status": "open"}


@pytest.mark.parametrize(
    ("column", "bad", "constraint"),
    [
        ("side", "middle", "ck_cases_laterality"),
        ("density", "e", "ck_cases_density"),
        ("status", "paused", "ck_cases_status"),
        ("status", "closed", "ck_cases_closed_at_iff_closed"),
    ],
)
def test_case_enumerations_are_checked(session, seeded, column, bad, constraint):
    violates(session, CASE_INSERT, {**GOOD_CASE, column: bad, "patient_id": seeded["patient_id"]}, constraint)


def test_case_needs_an_existing_patient(session, seeded):
    violates(session, CASE_INSERT, {**GOOD_CASE, "patient_id": 987654}, "fk_cases_patient_id_patients")


@pytest.mark.parametrize(
    ("sets", "constraint"),
    [
        ("status = 'forgotten'", "ck_steps_status"),
        ("status = 'completed'", "ck_steps_completed_at_iff_completed"),
        ("laterality = 'up'", "ck_steps_laterality"),
        ("facility_id = :facility_id", "ck_steps_facility_iff_priors"),
        ("created_by_event_id = 987654", "fk_steps_created_by_event_id_case_events"),
    ],
)
def test_step_rules_are_checked(session, seeded, sets, constraint):
    violates(session, f"UPDATE steps SET {sets} WHERE id = :step_id", seeded, constraint)


def test_clinical_vocabularies_are_not_database_checks(session, seeded):
    """Finding types, BI-RADS, step and event kinds come from the pathway files (ADR 8): a second
    pathway adds its own without a migration, and the engine validates them before any write."""
    names = set(
        session.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE conrelid::regclass::text IN ('cases', 'steps', 'case_events')"
            )
        ).scalars()
    )
    assert not names & {"ck_cases_finding_type", "ck_cases_birads", "ck_cases_disposition", "ck_steps_kind"}
    assert "ck_case_events_kind" not in names and "ck_cases_status" in names


def test_idempotency_key_is_checked(session, seeded):
    insert = (
        "INSERT INTO case_events (case_id, kind, payload, outcome, actor, occurred_at, recorded_at, idempotency_key) "
        "VALUES (:case_id, :kind, '{}', '{}', 'x', now(), now(), :key)"
    )
    violates(session, insert, {"case_id": seeded["case_id"], "kind": "assessment", "key": ""}, "not_blank")
    session.execute(text(insert), {"case_id": seeded["case_id"], "kind": "assessment", "key": "dup"})
    violates(
        session,
        insert,
        {"case_id": seeded["case_id"], "kind": "assessment", "key": "dup"},
        "uq_case_events_idempotency_key",
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE case_events SET actor = 'someone else' WHERE id = :event_id",
        "DELETE FROM case_events WHERE id = :event_id",
        "UPDATE audit_log SET actor = 'someone else' WHERE case_id = :case_id",
        "DELETE FROM audit_log WHERE case_id = :case_id",
    ],
)
def test_history_is_append_only(session, seeded, statement):
    violates(session, statement, seeded, "append-only")


def test_one_prior_film_request_per_case_and_facility(session, seeded):
    violates(
        session,
        "INSERT INTO prior_film_requests (case_id, facility_id, step_id, status, requested_at, chase_count) "
        "VALUES (:case_id, :facility_id, :step_id, 'requested', now(), 0)",
        seeded,
        "uq_prior_film_requests_case_id_facility_id",
    )


@pytest.mark.parametrize(
    ("sets", "constraint"),
    [
        ("status = 'unobtainable'", "unobtainable_needs_reason"),
        ("status = 'unobtainable', unobtainable_reason = '   '", "unobtainable_needs_reason"),
        ("status = 'received'", "received_at_iff_received"),
        ("status = 'lost'", "ck_prior_film_requests_status"),
        ("chase_count = -1", "chase_count_not_negative"),
    ],
)
def test_prior_film_request_rules(session, seeded, sets, constraint):
    violates(session, f"UPDATE prior_film_requests SET {sets} WHERE case_id = :case_id", seeded, constraint)


ALERT_INSERT = (
    "INSERT INTO alerts (kind, step_id, case_id, level, status, raised_at) "
    "VALUES ('overdue_step', :step_id, :case_id, :level, :status, now())"
)
KIND_INSERT = (
    "INSERT INTO alerts (kind, step_id, notification_id, case_run_id, case_id, level, status, raised_at) "
    "VALUES (:kind, :step, :notification, :run, :case_id, 1, 'open', now())"
)


def test_at_most_one_unresolved_alert_per_step(session, seeded):
    session.execute(text(ALERT_INSERT), {**seeded, "level": 1, "status": "open"})
    violates(session, ALERT_INSERT, {**seeded, "level": 2, "status": "open"}, "uq_alerts_one_unresolved_per_step")
    session.execute(text("UPDATE alerts SET status = 'resolved', resolved_at = now() WHERE step_id = :step_id"), seeded)
    session.execute(text(ALERT_INSERT), {**seeded, "level": 1, "status": "open"})  # a new one after resolution


@pytest.mark.parametrize(
    ("level", "status", "constraint"),
    [
        (4, "open", "ck_alerts_level"),
        (0, "open", "ck_alerts_level"),
        (1, "ignored", "ck_alerts_status"),
        (1, "acknowledged", "acknowledged_needs_who_and_why"),
        (1, "resolved", "resolved_at_iff_resolved"),
    ],
)
def test_alert_rules(session, seeded, level, status, constraint):
    violates(session, ALERT_INSERT, {**seeded, "level": level, "status": status}, constraint)


@pytest.mark.parametrize(
    ("kind", "names", "constraint"),
    [
        ("overdue_step", {}, "step_iff_overdue_step"),  # an overdue alert names its step
        ("run_stalled", {"step": True, "run": True}, "step_iff_overdue_step"),  # only overdue alerts have a step
        ("delivery_failed", {}, "delivery_failed_names_it"),  # a delivery alert names its notification
        ("run_stalled", {}, "run_stalled_names_it"),  # a stalled-run alert names its run request
        ("paging", {}, "ck_alerts_kind"),
    ],
)
def test_alert_kind_rules(session, seeded, kind, names, constraint):
    run = session.execute(text("SELECT id FROM case_runs WHERE case_id = :case_id LIMIT 1"), seeded).scalar_one()
    params = {"kind": kind, "step": seeded["step_id"] if names.get("step") else None, "notification": None,
              "run": run if names.get("run") else None, "case_id": seeded["case_id"]}  # fmt: skip
    violates(session, KIND_INSERT, params, constraint)


def test_one_unresolved_alert_per_dead_notification_and_per_stalled_case(session, seeded):
    notification = session.execute(
        text(
            "INSERT INTO notifications (kind, channel, recipient, case_id, payload, dedupe_key, status, attempts, "
            "failures, next_attempt_at, created_at) VALUES ('event_warning', 'email', 'n@x.test', :case_id, '{}', "
            "'k', 'dead', 3, 3, now(), now()) RETURNING id"
        ),
        seeded,
    ).scalar_one()
    run = session.execute(text("SELECT id FROM case_runs WHERE case_id = :case_id LIMIT 1"), seeded).scalar_one()
    base = {"step": None, "case_id": seeded["case_id"]}
    session.execute(text(KIND_INSERT), {**base, "kind": "delivery_failed", "notification": notification, "run": None})
    violates(session, KIND_INSERT, {**base, "kind": "delivery_failed", "notification": notification, "run": None},
             "uq_alerts_one_unresolved_per_notification")  # fmt: skip
    session.execute(text(KIND_INSERT), {**base, "kind": "run_stalled", "notification": None, "run": run})
    violates(session, KIND_INSERT, {**base, "kind": "run_stalled", "notification": None, "run": run},
             "uq_alerts_one_unresolved_stalled_run_per_case")  # fmt: skip


@pytest.mark.parametrize(
    ("table", "sets", "constraint"),
    [
        ("notifications", "failures = attempts + 1", "ck_notifications_failures_within_attempts"),
        ("case_runs", "failures = -1", "ck_case_runs_failures_within_attempts"),
    ],
)
def test_failure_counts_stay_within_attempts(session, seeded, table, sets, constraint):
    if table == "notifications":
        session.execute(
            text(
                "INSERT INTO notifications (kind, channel, recipient, case_id, payload, dedupe_key, status, attempts, "
                "failures, next_attempt_at, created_at) VALUES ('event_warning', 'email', 'n@x.test', :case_id, "
                "'{}', 'k2', 'pending', 0, 0, now(), now())"
            ),
            seeded,
        )
    violates(session, f"UPDATE {table} SET {sets} WHERE case_id = :case_id", seeded, constraint)


def test_patient_mrn_unique_and_facility_channel_checked(session, seeded):
    violates(
        session,
        "INSERT INTO patients (mrn, given_name, family_name, birth_date, created_at) "
        "VALUES ('TEST-SEED-1', 'A', 'B', '1970-01-01', now())",
        {},
        "uq_patients_mrn",
    )
    violates(
        session,
        "INSERT INTO outside_facilities (name, channel, contact, created_at) VALUES ('X', 'pigeon', 'y', now())",
        {},
        "ck_outside_facilities_channel",
    )
