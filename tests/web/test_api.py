"""The JSON API on real PostgreSQL: open, read, record (idempotent, versioned), overdue, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from tests.factories import SUSPICIOUS_MAG
from tracking.alerts.sweep import sweep_overdue
from tracking.users.service import disable_user

NEW_CASE = {
    "mrn": "API-1",
    "given_name": "Ines",
    "family_name": "Apitest",
    "birth_date": "1971-05-06",
    "laterality": "right",
    "density": "d",
    "facilities": [{"name": "API Imaging", "channel": "email", "contact": "films@api-imaging.test"}],
}


# The audit log less its rows about refusals: a refused write is audited, but writes nothing else.
AUDIT_BUT_REFUSALS = "audit_log WHERE action NOT IN ('write.refused', 'request.denied')"


def count(engine, table: str, case_id: int | None = None) -> int:
    where = f" WHERE case_id = {int(case_id)}" if case_id else ""
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}{where}")).scalar_one()


def test_open_case_then_read_it(api_for, committed):
    api = api_for("navigator")
    created = api.post("/api/cases", json=NEW_CASE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert len(body["created_step_ids"]) == 5 and body["replayed"] is False
    case = api.get(f"/api/cases/{body['case_id']}").json()
    assert case["patient"]["mrn"] == "API-1"
    assert sorted(step["kind"] for step in case["steps"]) == [
        "annual_screening", "final_assessment", "magnification_views", "prior_film_request", "ultrasound",
    ]  # fmt: skip
    assert [event["kind"] for event in case["events"]] == ["case_opened"]
    views = count(committed, "audit_log", body["case_id"])
    assert views == 2  # opened + viewed


def test_open_case_with_idempotency_key_replays(api_for, committed):
    api = api_for("navigator")
    first = api.post("/api/cases", json=NEW_CASE, headers={"Idempotency-Key": "open-api-1"})
    again = api.post("/api/cases", json=NEW_CASE, headers={"Idempotency-Key": "open-api-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["case_id"] == first.json()["case_id"] and again.json()["replayed"] is True
    assert count(committed, "cases") == 1


def test_record_event_three_times_with_one_key_records_once(api_for, seeded_case, committed):
    api = api_for("radiologist")
    responses = [
        api.post(
            f"/api/cases/{seeded_case}/events",
            json={"kind": "magnification_result", "data": SUSPICIOUS_MAG},
            headers={"Idempotency-Key": "mag-api-1"},
        )  # fmt: skip
        for _ in range(3)
    ]
    assert [response.status_code for response in responses] == [201, 200, 200]
    assert len({response.json()["event_id"] for response in responses}) == 1
    assert count(committed, "case_events", seeded_case) == 2
    assert responses[0].headers["ETag"] == '"2"'


def test_stale_version_answers_409_and_writes_nothing(api_for, seeded_case, committed):
    api = api_for("navigator")
    ok = api.post(f"/api/cases/{seeded_case}/events", json={"kind": "ultrasound_result", "data": {"findings": "none"}},
                  headers={"If-Match": '"1"'})  # fmt: skip
    assert ok.status_code == 201
    stale = api.post(f"/api/cases/{seeded_case}/events", json={"kind": "magnification_result", "data": SUSPICIOUS_MAG},
                     headers={"If-Match": '"1"'})  # fmt: skip
    assert stale.status_code == 409
    assert "changed since you read it" in stale.json()["error"]
    in_body = api.post(f"/api/cases/{seeded_case}/events",
                       json={"kind": "magnification_result", "data": SUSPICIOUS_MAG, "expected_version": 1})  # fmt: skip
    assert in_body.status_code == 409
    assert count(committed, "case_events", seeded_case) == 2


def test_guard_refusal_is_422_naming_the_guard_and_saves_nothing(api_for, seeded_case, committed):
    api = api_for("navigator")
    before = (count(committed, "case_events"), count(committed, AUDIT_BUT_REFUSALS), count(committed, "case_runs"))
    refusals = count(committed, "audit_log WHERE action = 'write.refused'")
    response = api.post(
        f"/api/cases/{seeded_case}/events",
        json={"kind": "biopsy_scheduled", "data": {"procedure": "stereotactic", "scheduled_for": "2030-01-01T09:00Z"}},
    )
    assert response.status_code == 422
    assert response.json()["guard"] == "G1"
    assert "Magnification views of the left breast are not done" in response.json()["error"]
    assert (
        count(committed, "case_events"),
        count(committed, AUDIT_BUT_REFUSALS),
        count(committed, "case_runs"),
    ) == before
    assert count(committed, "audit_log WHERE action = 'write.refused'") == refusals + 1  # the refusal, audited


def test_radiologist_may_not_record_navigator_events(api_for, seeded_case):
    response = api_for("radiologist").post(
        f"/api/cases/{seeded_case}/events",
        json={"kind": "result_letter_sent", "data": {"density_sentence_included": True}},
    )
    assert response.status_code == 403


def test_overdue_and_alerts_and_ack(api_for, committed):
    api = api_for("navigator")
    case_id = api.post("/api/cases", json=NEW_CASE).json()["case_id"]
    with Session(committed) as session:  # eight days on, magnification views are overdue
        session.execute(
            text("UPDATE steps SET due_at = due_at - interval '20 days' WHERE kind = 'magnification_views'")
        )
        sweep_overdue(session, datetime.now(UTC))
        session.commit()
    overdue = api.get("/api/overdue").json()
    assert [(row["case_id"], row["step"]) for row in overdue] == [(case_id, "magnification_views")]
    assert api.get("/api/overdue", params={"step": "ultrasound"}).json() == []
    assert api.get("/api/overdue", params={"older_than": 30}).json() == []
    assert api.get("/api/overdue", params={"step": "nonsense"}).status_code == 422
    alerts = api.get("/api/alerts", params={"open": "true"}).json()
    assert [(alert["case_id"], alert["level"], alert["status"]) for alert in alerts] == [(case_id, 2, "open")]
    acked = api.post(f"/api/alerts/{alerts[0]['alert_id']}/ack", json={"reason": "Booked Friday", "snooze_days": 2})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert api.post("/api/alerts/999999/ack", json={"reason": "nobody"}).status_code == 404
    assert api.post(f"/api/alerts/{alerts[0]['alert_id']}/ack", json={"reason": ""}).status_code == 422


def test_tokens_and_sessions_are_required(app, api_for, users, committed):
    from fastapi.testclient import TestClient

    anonymous = TestClient(app)
    assert anonymous.get("/api/overdue").status_code == 401
    assert TestClient(app, headers={"Authorization": "Bearer bw_wrong"}).get("/api/overdue").status_code == 401
    api = api_for("ops")
    assert api.get("/api/overdue").status_code == 200
    with Session(committed) as session:
        disable_user(session, users["ops"], actor="test", now=datetime.now(UTC))
        session.commit()
    assert api.get("/api/overdue").status_code == 401
    with committed.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert all(len(value) == 64 and not value.startswith("bw_") for value in stored)


def test_openapi_lists_the_api(api_for):
    schema = api_for("read_only").get("/openapi.json").json()  # signed in: tests/web/test_sign_in.py
    assert {"/api/cases", "/api/cases/{case_id}", "/api/cases/{case_id}/events", "/api/overdue", "/api/alerts",
            "/api/alerts/{alert_id}/ack"} <= set(schema["paths"])  # fmt: skip
    assert "/worklist" not in schema["paths"]


def test_case_view_and_write_are_audited(api_for, seeded_case, committed, users):
    api = api_for("radiologist")
    api.get(f"/api/cases/{seeded_case}")
    api.post(f"/api/cases/{seeded_case}/events", json={"kind": "magnification_result", "data": SUSPICIOUS_MAG})
    with committed.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, action FROM audit_log WHERE case_id = :id ORDER BY id"), {"id": seeded_case}
        ).all()
    assert rows[-2:] == [(users["radiologist"], "case.viewed"), (users["radiologist"], "event.recorded")]


def test_open_case_as_of_the_exam(api_for, committed):
    api = api_for("navigator")
    exam = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
    created = api.post("/api/cases", json={**NEW_CASE, "occurred_at": exam.isoformat()})
    assert created.status_code == 201, created.text
    case = api.get(f"/api/cases/{created.json()['case_id']}").json()
    assert datetime.fromisoformat(case["case"]["opened_at"]) == exam
    [event] = case["events"]
    assert datetime.fromisoformat(event["occurred_at"]) == exam
    assert datetime.fromisoformat(event["recorded_at"]) > exam + timedelta(days=3)
    due = {step["kind"]: datetime.fromisoformat(step["due_at"]) for step in case["steps"]}
    assert due["magnification_views"] == exam + timedelta(days=7)


def test_open_case_refuses_a_bad_exam_moment_with_422_naming_it(api_for, committed):
    api = api_for("navigator")
    now = datetime.now(UTC)
    for moment, says in [
        ((now + timedelta(hours=1)).isoformat(), "is in the future"),
        ((now - timedelta(days=366)).isoformat(), "WORKUP_OPENING_MAX_AGE_DAYS"),
        ("2026-03-01T09:00:00", "needs a time zone"),
        ("soon", "must be an ISO 8601 date-time"),
    ]:
        refused = api.post("/api/cases", json={**NEW_CASE, "occurred_at": moment})
        assert refused.status_code == 422, refused.text
        assert "occurred_at" in refused.text and says in refused.text, refused.text
    assert count(committed, "cases") == 0 and count(committed, "patients") == 0
