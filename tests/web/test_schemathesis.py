"""Schemathesis against the real app's OpenAPI, as a navigator's API token: no input answers 5xx.

Every operation gets seeded, bounded examples, derandomized so a run is repeatable: data that fits
the schema (positive) and data that breaks it (negative); the check is `not_a_server_error`. The
schema is loaded from the ASGI app itself (/openapi.json needs a signed-in caller). The operations
run in one test so that the app, the database and the token are set up once.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}  # per operation


def test_no_generated_request_is_a_server_error(app, api_for, seeded_case):
    token = api_for("navigator").headers["Authorization"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": token})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6, [operation.label for operation in operations]
    fhir = {operation.label for operation in operations if operation.label.startswith("GET /fhir")}
    assert {"GET /fhir/metadata", "GET /fhir/Task", "GET /fhir/Task/{resource_id}"} <= fhir  # /fhir is in the schema
    statuses: Counter[str] = Counter()
    failures: dict[str, str] = {}
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
            def run(case):
                response = case.call_and_validate(headers={"Authorization": token}, checks=[not_a_server_error])
                statuses[f"{response.status_code // 100}xx"] += 1

            try:
                run()
            except Exception as error:  # collect every operation's failure, then fail once
                failures[f"{operation.label} ({mode})"] = str(error)[:2000]
    assert not failures, failures
    assert statuses["5xx"] == 0
    assert sum(statuses.values()) >= len(operations) * 20, statuses
