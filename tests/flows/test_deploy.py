"""`deploy_all()` registers the four scheduled deployments on a real Prefect API (the test harness)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from flows.deployments import deploy_all, planned_deployments
from tracking.cases.errors import InvalidInput
from tracking.settings import REPO_ROOT

EXPECTED = {
    "sweep-overdue-steps": ("sweep_overdue_steps", "flows/sweep.py:sweep_overdue_steps", timedelta(seconds=300)),
    "send-reminders": ("send_reminders", "flows/reminders.py:send_reminders", "*/15 * * * *"),
    "deliver-notifications": (
        "deliver_notifications",
        "flows/delivery.py:deliver_notifications",
        timedelta(seconds=60),
    ),
    "run-pending-case-runs": ("run_pending_case_runs", "flows/workup.py:run_pending_case_runs", timedelta(seconds=15)),
}
SCHEDULE_TEXT = {
    "sweep-overdue-steps": "every 300s (UTC)",
    "send-reminders": "cron */15 * * * * (UTC)",
    "deliver-notifications": "every 60s (UTC)",
    "run-pending-case-runs": "every 15s (UTC)",
}


def read_back() -> dict:
    """Our deployments as the API has them: name -> (flow name, deployment)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployments = [d for d in client.read_deployments() if d.name in EXPECTED]
        return {d.name: (client.read_flow(d.flow_id).name, d) for d in deployments}


def assert_registered(stored: dict) -> None:
    assert sorted(stored) == sorted(EXPECTED)
    for name, (flow_name, deployment) in stored.items():
        expected_flow, entrypoint, every = EXPECTED[name]
        assert flow_name == expected_flow, name
        assert deployment.entrypoint == entrypoint, name
        assert deployment.work_pool_name == "workup", name
        assert deployment.path == str(REPO_ROOT), name
        assert deployment.job_variables == {"working_dir": str(REPO_ROOT)}, name
        assert len(deployment.schedules) == 1, f"{name}: {deployment.schedules}"
        schedule = deployment.schedules[0]
        assert schedule.active, name
        assert str(schedule.schedule.timezone) == "UTC", name
        if isinstance(every, timedelta):
            assert schedule.schedule.interval == every, name
        else:
            assert schedule.schedule.cron == every, name


def test_deploy_all_creates_the_four_scheduled_deployments_once(prefect_harness):
    from prefect.client.orchestration import get_client

    first = deploy_all()
    assert [row["name"] for row in first] == list(EXPECTED)
    assert all(row["id"] for row in first)
    stored = read_back()
    assert_registered(stored)
    assert {row["name"]: row["id"] for row in first} == {name: str(d.id) for name, (_, d) in stored.items()}

    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("workup")
    assert pool.type == "process"
    assert "working_dir" in pool.base_job_template["variables"]["properties"]

    second = deploy_all()  # idempotent: the same four deployments, updated in place
    assert [row["id"] for row in second] == [row["id"] for row in first]
    again = read_back()
    assert_registered(again)
    assert len(again) == 4


def test_dry_run_contacts_nothing_and_returns_the_plan(monkeypatch):
    import prefect.client.orchestration
    from prefect.deployments.runner import RunnerDeployment

    def refuse(*args, **kwargs):
        raise AssertionError("a dry run must not contact the Prefect API")

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr(prefect.client.orchestration, "get_client", refuse)
    monkeypatch.setattr(RunnerDeployment, "apply", refuse)
    rows = deploy_all(dry_run=True)
    assert rows == [
        {"name": name, "flow": flow, "entrypoint": entrypoint, "schedule": SCHEDULE_TEXT[name], "id": None}
        for name, (flow, entrypoint, _) in EXPECTED.items()
    ]


def test_cli_deploy_dry_run_prints_the_plan_as_json(capsys):
    from tracking.cli import main

    assert main(["deploy", "--dry-run", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["name"], row["entrypoint"], row["id"]) for row in rows] == [
        (name, entrypoint, None) for name, (_, entrypoint, _) in EXPECTED.items()
    ]


def write_project(tmp_path, entrypoint: str, schedules: str = "[{interval: 60}]"):
    path = tmp_path / "prefect.yaml"
    path.write_text(f"deployments:\n  - name: broken\n    entrypoint: {entrypoint}\n    schedules: {schedules}\n")
    return path


@pytest.mark.parametrize(
    "entrypoint, problem",
    [
        ("flows/no_such_file.py:anything", "no file flows/no_such_file.py"),
        ("flows/sweep.py:no_such_flow", "has no Prefect flow 'no_such_flow'"),
        ("flows/sweep.py:flow_now", "has no Prefect flow 'flow_now' (found function)"),
        ("flows/sweep.py", "must look like path/to/file.py:flow_function"),
        ("../outside.py:flow", "no file ../outside.py"),
    ],
)
def test_a_bad_entrypoint_names_the_deployment_and_entrypoint(tmp_path, entrypoint, problem):
    with pytest.raises(InvalidInput) as refused:
        deploy_all(dry_run=True, path=write_project(tmp_path, entrypoint))
    message = str(refused.value)
    assert f"deployment 'broken': entrypoint '{entrypoint}'" in message
    assert problem in message


def test_a_deployment_without_a_schedule_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="deployment 'broken'.*needs a non-empty schedules list"):
        planned_deployments(write_project(tmp_path, "flows/sweep.py:sweep_overdue_steps", schedules="[]"))


def test_a_missing_project_file_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read .*missing.yaml"):
        deploy_all(dry_run=True, path=tmp_path / "missing.yaml")


def test_cli_deploy_needs_a_prefect_server(monkeypatch, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tracking.cli import main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["deploy"]) == 2
    assert "set PREFECT_API_URL" in capsys.readouterr().err


def test_cli_deploy_reports_an_unreachable_prefect_api_in_one_line(capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tracking.cli import main

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["deploy"]) == 7
    error = capsys.readouterr().err
    assert error.startswith("error: Prefect API unavailable at http://127.0.0.1:9/api") and error.count("\n") == 1
