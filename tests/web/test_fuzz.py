"""Fuzz the JSON API with hypothesis: no 5xx, and a rejected request writes no row."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

TABLES = ("cases", "patients", "steps", "case_events", "case_runs", "prior_film_requests", "alerts", "notifications")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["4B", "0", "6", "fine_pleomorphic", "ultrasound", "stereotactic", "2030-01-01T09:00:00Z",
                     "not-a-date", "calcifications_confirmed", "breast_too_thin", "left", "c"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=8,
)
event_kinds = st.sampled_from(["magnification_result", "biopsy_scheduled", "biopsy_performed", "pathology_result",
                               "stereotactic_infeasible", "prior_films_unobtainable", "assessment", "nonsense", ""])  # fmt: skip
field_names = st.sampled_from(["birads", "morphology", "distribution", "procedure", "guidance", "scheduled_for",
                               "cores", "specimen_radiograph", "reason", "category", "diagnosis", "concordant",
                               "facility_id", "override_reason", "extra"])  # fmt: skip
event_bodies = st.fixed_dictionaries(
    {"kind": event_kinds, "data": st.dictionaries(field_names, json_values, max_size=6)},
    optional={"occurred_at": scalars, "expected_version": scalars},
)
case_bodies = st.dictionaries(
    st.sampled_from(["mrn", "given_name", "family_name", "birth_date", "laterality", "density", "birads",
                     "finding_type", "facilities", "pathway", "surprise"]),
    json_values, max_size=9,
)  # fmt: skip


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


@pytest.fixture
def navigator_api(api_for):
    return api_for("navigator")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=event_bodies,
    key=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
)
def test_fuzz_record_event(navigator_api, seeded_case, committed, body, key):
    before = counts(committed)
    headers = {"Idempotency-Key": key} if key else {}
    response = navigator_api.post(f"/api/cases/{seeded_case}/events", json=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert counts(committed) == before
        assert "error" in response.json()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=case_bodies)
def test_fuzz_open_case(navigator_api, committed, body):
    before = counts(committed)
    response = navigator_api.post("/api/cases", json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert counts(committed) == before
