"""`deploy_all()` registers the two scheduled deployments (through Prefect's own `prefect deploy`) and
the crash-detection automation on a real Prefect API (the test harness), idempotently, and deletes
the case-run and delivery deployments an earlier release registered (`workup worker` runs those)."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest
import yaml

from flows.deployments import (
    AUTOMATIONS_FILE,
    PREFECT_FILE,
    deploy_all,
    planned_automations,
    planned_deployments,
    run_prefect_deploy,
)
from tracking.cases.errors import InvalidInput
from tracking.commands.deploy import PrefectUnavailable
from tracking.settings import REPO_ROOT

EXPECTED = {
    "sweep-overdue-steps": ("sweep_overdue_steps", "flows/sweep.py:sweep_overdue_steps", timedelta(seconds=300)),
    "send-reminders": ("send_reminders", "flows/reminders.py:send_reminders", "*/15 * * * *"),
}
SCHEDULE_TEXT = {
    "sweep-overdue-steps": "every 300s (UTC)",
    "send-reminders": "cron */15 * * * * (UTC)",
}
RETIRED = {
    "deliver-notifications": "flows/delivery.py:deliver_notifications",
    "run-pending-case-runs": "flows/workup.py:run_pending_case_runs",
}
CRASH_AUTOMATION = "crash-flow-runs-without-heartbeat"
CRASH_RULE = "no prefect.flow-run.* within 90s after prefect.flow-run.heartbeat -> change-flow-run-state CRASHED"


def read_back() -> dict:
    """Our deployments as the API has them: name -> (flow name, deployment)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployments = [d for d in client.read_deployments() if d.name in EXPECTED]
        return {d.name: (client.read_flow(d.flow_id).name, d) for d in deployments}


def read_automations(name: str) -> list:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_automations_by_name(name)


def assert_registered(stored: dict, work_pool: str = "workup") -> None:
    assert sorted(stored) == sorted(EXPECTED)
    for name, (flow_name, deployment) in stored.items():
        expected_flow, entrypoint, every = EXPECTED[name]
        assert flow_name == expected_flow, name
        assert deployment.entrypoint == entrypoint, name
        assert deployment.work_pool_name == work_pool, name
        # `{{ $PWD }}` was resolved when deploying: the flows run in this checkout, not in /app.
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
        ], name
        assert deployment.job_variables == {
            "working_dir": str(REPO_ROOT),
            "env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"},
        }, name
        assert deployment.tags == ["workup", "scheduled"], name
        assert len(deployment.schedules) == 1, f"{name}: {deployment.schedules}"
        schedule = deployment.schedules[0]
        assert schedule.active, name
        assert str(schedule.schedule.timezone) == "UTC", name
        if isinstance(every, timedelta):
            assert schedule.schedule.interval == every, name
        else:
            assert schedule.schedule.cron == every, name


def test_deploy_all_registers_the_deployments_and_the_crash_automation_once(prefect_harness):
    from prefect.client.orchestration import get_client

    first = deploy_all()
    assert [row["name"] for row in first["deployments"]] == list(EXPECTED)
    assert all(row["id"] for row in first["deployments"])
    stored = read_back()
    assert_registered(stored)
    assert {row["name"]: row["id"] for row in first["deployments"]} == {
        name: str(d.id) for name, (_, d) in stored.items()
    }
    with get_client(sync_client=True) as client:
        pool = client.read_work_pool("workup")
    assert pool.type == "process"
    assert "working_dir" in pool.base_job_template["variables"]["properties"]

    (automation_row,) = first["automations"]
    assert automation_row["name"] == CRASH_AUTOMATION and automation_row["rule"] == CRASH_RULE
    (automation,) = read_automations(CRASH_AUTOMATION)
    assert str(automation.id) == automation_row["id"]
    (expected,) = planned_automations(AUTOMATIONS_FILE)
    assert automation.enabled
    assert automation.trigger.model_dump() == expected.trigger.model_dump()
    assert [action.model_dump() for action in automation.actions] == [a.model_dump() for a in expected.actions]

    second = deploy_all()  # idempotent: the same deployments and automation, updated in place
    assert [row["id"] for row in second["deployments"]] == [row["id"] for row in first["deployments"]]
    assert_registered(read_back())
    assert [(row["id"], row["change"]) for row in second["automations"]] == [(automation_row["id"], "updated")]
    assert [str(found.id) for found in read_automations(CRASH_AUTOMATION)] == [automation_row["id"]]


def earlier_release_project(tmp_path):
    """config/prefect.yaml as releases before `workup worker` had it: case runs and delivery deployed too."""
    project = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
    pool = project["deployments"][0]["work_pool"]
    for name, entrypoint in RETIRED.items():
        project["deployments"].append({"name": name, "entrypoint": entrypoint, "tags": ["workup", "scheduled"],
                                       "work_pool": pool, "schedules": [{"interval": 15, "timezone": "UTC"}]})  # fmt: skip
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return path


def registered_names() -> set[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {deployment.name for deployment in client.read_deployments()}


def test_an_upgrade_deletes_the_case_run_and_delivery_deployments_of_an_earlier_release(prefect_harness, tmp_path):
    run_prefect_deploy(earlier_release_project(tmp_path), "workup")
    assert set(RETIRED) <= registered_names()  # as an earlier release left them, their schedules on

    result = deploy_all()
    assert [(row["name"], row["change"]) for row in result["retired"]] == [
        ("run_pending_case_runs/run-pending-case-runs", "deleted"),
        ("deliver_notifications/deliver-notifications", "deleted"),
    ]
    assert all(row["id"] for row in result["retired"])
    assert registered_names() & set(RETIRED) == set()
    assert_registered(read_back())

    again = deploy_all()  # nothing left to delete
    assert [row["change"] for row in again["retired"]] == ["not registered", "not registered"]


def test_deploy_all_to_another_work_pool_creates_it_and_moves_the_deployments(prefect_harness):
    try:
        rows = deploy_all(work_pool="workup-other")
        assert_registered(read_back(), work_pool="workup-other")
        assert all(row["id"] for row in rows["deployments"])
    finally:
        deploy_all()  # back on `workup` for the other tests of the session


def test_a_failing_prefect_deploy_is_one_line_with_exit_code_7(prefect_harness, tmp_path):
    project = tmp_path / "prefect.yaml"
    project.write_text(
        "build:\n  - no_such_module.steps.build_it: {}\n"
        "deployments:\n  - name: broken-build\n    entrypoint: flows/sweep.py:sweep_overdue_steps\n"
        "    work_pool: {name: workup}\n    schedules: [{interval: 60}]\n"
    )
    with pytest.raises(PrefectUnavailable) as failed:
        deploy_all(path=project)
    message = str(failed.value)
    assert failed.value.exit_code == 7
    assert message.startswith("prefect deploy failed: ") and "\n" not in message
    assert "no_such_module" in message


def test_dry_run_contacts_nothing_and_returns_the_plan(monkeypatch):
    import prefect.client.orchestration

    def refuse(*args, **kwargs):
        raise AssertionError("a dry run must not contact the Prefect API nor run prefect deploy")

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr(prefect.client.orchestration, "get_client", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    result = deploy_all(dry_run=True)
    assert result["deployments"] == [
        {"name": name, "flow": flow, "entrypoint": entrypoint, "schedule": SCHEDULE_TEXT[name], "id": None}
        for name, (flow, entrypoint, _) in EXPECTED.items()
    ]
    assert result["automations"] == [{"name": CRASH_AUTOMATION, "rule": CRASH_RULE, "id": None, "change": None}]
    assert result["retired"] == [
        {"name": "run_pending_case_runs/run-pending-case-runs", "id": None, "change": None},
        {"name": "deliver_notifications/deliver-notifications", "id": None, "change": None},
    ]


def test_cli_deploy_dry_run_prints_the_plan_as_json(capsys):
    from tracking.cli import main

    assert main(["deploy", "--dry-run", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(row["name"], row["entrypoint"], row["id"]) for row in result["deployments"]] == [
        (name, entrypoint, None) for name, (_, entrypoint, _) in EXPECTED.items()
    ]
    assert [row["name"] for row in result["automations"]] == [CRASH_AUTOMATION]


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


def test_a_project_file_prefect_would_skip_is_refused(tmp_path):
    path = write_project(tmp_path, "flows/sweep.py:sweep_overdue_steps")
    path.write_text(path.read_text() + "    work_pool: workup\n")  # a name where Prefect wants a mapping
    with pytest.raises(InvalidInput, match="is not a valid Prefect project file: deployments.0.work_pool"):
        planned_deployments(path)


def test_a_missing_project_file_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read .*missing.yaml"):
        deploy_all(dry_run=True, path=tmp_path / "missing.yaml")


def test_a_bad_automation_names_itself_and_the_field(tmp_path):
    path = tmp_path / "automations.yaml"
    path.write_text(
        "automations:\n  - name: no-trigger-kind\n    trigger: {type: event, posture: Sometimes}\n"
        "    actions: [{type: do-nothing}]\n"
    )
    with pytest.raises(InvalidInput, match=r"automation 'no-trigger-kind': trigger\.event\.posture"):
        deploy_all(dry_run=True, automations_path=path)
    path.write_text("automations: []\n")
    with pytest.raises(InvalidInput, match="has no automations list"):
        planned_automations(path)


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
