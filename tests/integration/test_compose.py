"""The scaled-out deployment files are consistent with the code: docker-compose.yml, the
Dockerfile and config/prefect.yaml.

There is no Docker engine here, so nothing is started; instead every command a container runs is
resolved against the real CLIs (`workup` through its Click tree, `prefect` by running its --help),
every setting it is given must be one the code reads, and every deployment must name a real flow.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import typer
import yaml
from prefect import Flow
from pydantic import AliasChoices

from tracking.cli import app
from tracking.settings import REPO_ROOT, Settings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
PREFECT_FILE = REPO_ROOT / "config" / "prefect.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}
SHELLS = {"sh", "bash", "dash"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict]:
    return compose()["services"]


def as_argv(value: str | list) -> list[str]:
    return [str(word) for word in value] if isinstance(value, list) else shlex.split(value)


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script (split on && || ; | &, quotes respected)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in [*lexer, ";"]:
        if token in SHELL_OPERATORS:
            while current and current[0] in ("exec", "command"):
                current = current[1:]
            if current:
                commands.extend(expand(current))
            current = []
        else:
            current.append(token)
    return commands


def expand(argv: list[str]) -> list[list[str]]:
    """`sh -c SCRIPT` becomes the commands in SCRIPT; anything else is one command."""
    if argv and Path(argv[0]).name in SHELLS and "-c" in argv[1:]:
        return shell_commands(argv[argv.index("-c") + 1])
    return [argv]


def commands_of(service: dict) -> list[list[str]]:
    """Every command line a service runs: entrypoint + command, and its healthcheck test."""
    found = []
    entrypoint = as_argv(service["entrypoint"]) if "entrypoint" in service else []
    command = as_argv(service["command"]) if "command" in service else []
    if entrypoint or command:
        found.extend(expand(entrypoint + command))
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        found.extend(shell_commands(test))
    elif isinstance(test, list) and test and test[0] == "CMD":
        found.extend(expand([str(word) for word in test[1:]]))
    elif isinstance(test, list) and test and test[0] == "CMD-SHELL":
        found.extend(shell_commands(" ".join(str(word) for word in test[1:])))
    return found


def all_commands(program: str) -> list[tuple[str, list[str]]]:
    return [
        (name, argv)
        for name, service in services().items()
        for argv in commands_of(service)
        if Path(argv[0]).name == program
    ]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def settings_aliases() -> set[str]:
    aliases = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        aliases.update(choice for choice in choices if isinstance(choice, str))
    return aliases


def is_prefect_setting(name: str) -> bool:
    import prefect.settings

    return name.startswith("PREFECT_") and hasattr(prefect.settings, name)


def depends_on(service: dict) -> dict[str, str]:
    """depends_on as {service: condition}, for both the list and the mapping forms."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


# --- workup: every command resolves in the Click tree ---------------------------------------


def is_group(command) -> bool:
    # Typer ships its own copy of Click (typer._click), so test for the group API, not a class.
    return hasattr(command, "get_command") and hasattr(command, "list_commands")


def resolve_workup(argv: list[str]):
    """Walk `workup WORD WORD ...` down the Click tree; stop at the first option or a leaf.
    Returns the command, its parent context and the words left for it."""
    command = typer.main.get_command(app)
    context = command.context_class(command, info_name="workup")
    path = ["workup"]
    rest = argv[1:]
    while rest and not rest[0].startswith("-") and is_group(command):
        sub = command.get_command(context, rest[0])
        assert sub is not None, f"{' '.join(argv)}: `{' '.join(path)}` has no sub-command {rest[0]!r}"
        path.append(rest[0])
        command, rest = sub, rest[1:]
        if is_group(command):
            context = command.context_class(command, info_name=path[-1], parent=context)
    assert not is_group(command), f"{' '.join(argv)}: `{' '.join(path)}` is a group, not a command"
    return command, context, rest


def test_compose_runs_the_expected_workup_commands():
    """The parser finds the commands this file is about (so the checks below check something)."""
    found = {
        (name, " ".join(word for word in argv[1:3] if not word.startswith("-")))
        for name, argv in all_commands("workup")
    }
    assert ("migrate", "db upgrade") in found
    assert ("migrate", "db url") in found  # its healthcheck
    assert ("worker", "deploy") in found  # inside `sh -c`
    assert ("web", "serve") in found


@pytest.mark.parametrize(
    "service, argv",
    [pytest.param(name, argv, id=f"{name}: {' '.join(argv)}") for name, argv in all_commands("workup")],
)
def test_every_workup_command_exists_with_its_options(service, argv):
    command, context, rest = resolve_workup(argv)
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("--") or (word.startswith("-") and len(word) == 2):
            option = word.split("=", 1)[0]
            assert option in known, f"{service}: `{' '.join(argv)}`: {command.name} has no option {option}"
    # And the whole argument list parses (types, counts, required arguments), without running it.
    command.make_context(command.name, list(rest), parent=context)


# --- prefect: every command is a real Prefect CLI command ------------------------------------


def prefect_executable() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "prefect"
    return str(venv if venv.exists() else Path(sys.executable).with_name("prefect"))


@cache
def prefect_help(words: tuple[str, ...]) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.run(
        [prefect_executable(), *words, "--help"], capture_output=True, text=True, timeout=120, env=env
    )


def test_compose_runs_the_expected_prefect_commands():
    found = {(name, tuple(argv[1:3])) for name, argv in all_commands("prefect")}
    assert found == {("prefect-server", ("server", "start")), ("worker", ("worker", "start"))}


def test_an_unknown_prefect_command_fails_its_help():
    """The check below can fail: a made-up sub-command does not exit 0."""
    assert prefect_help(("worker", "no-such-command")).returncode != 0


@pytest.mark.parametrize(
    "service, argv",
    [pytest.param(name, argv, id=f"{name}: {' '.join(argv)}") for name, argv in all_commands("prefect")],
)
def test_every_prefect_command_exists_with_its_options(service, argv):
    words = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        words.append(word)
    result = prefect_help(tuple(words))
    assert result.returncode == 0, f"{service}: `prefect {' '.join(words)} --help` failed:\n{result.stderr}"
    for word in argv[1:]:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), (
                f"{service}: `prefect {' '.join(words)}` has no option {option}"
            )


# --- services: healthchecks, settings, order -------------------------------------------------


def test_expected_services():
    assert set(services()) == {"postgres", "migrate", "prefect-server", "worker", "web"}


@pytest.mark.parametrize("name", sorted(services()))
def test_every_service_has_a_healthcheck(name):
    healthcheck = services()[name].get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
    test = healthcheck.get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (
        f"{name}: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...], got {test!r}"
    )


def test_settings_aliases_are_collected():
    aliases = settings_aliases()
    assert {"DATABASE_URL", "WORKUP_DATABASE_URL", "WORKUP_SCHEDULER_ENABLED", "WORKUP_HOME"} <= aliases
    assert "WORKUP_NOT_A_SETTING" not in aliases


@pytest.mark.parametrize("name", sorted(services()))
def test_every_workup_variable_is_a_setting_the_code_reads(name):
    service = services()[name]
    aliases = settings_aliases()
    env = environment(service)
    for variable in env:
        if variable.startswith("WORKUP_") or variable == "DATABASE_URL":
            assert variable in aliases, f"{name}: {variable} is not read by tracking.settings.Settings"
        elif "build" in service:  # our image: only our settings and Prefect's
            assert is_prefect_setting(variable), f"{name}: {variable} is neither a workup nor a Prefect setting"
    ours = {key: value for key, value in env.items() if key in aliases}
    Settings(_env_file=None, **ours)  # and the values parse


def test_app_services_share_the_database_and_web_leaves_scheduling_to_prefect():
    database = "postgresql+psycopg://workup:workup@postgres:5432/workup"
    for name in ("migrate", "worker", "web"):
        assert environment(services()[name]).get("DATABASE_URL") == database, name
    web = Settings(
        _env_file=None, **{k: v for k, v in environment(services()["web"]).items() if k.startswith("WORKUP")}
    )
    assert web.scheduler_enabled is False
    assert environment(services()["worker"])["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    server_db = environment(services()["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert server_db == "postgresql+asyncpg://workup:workup@postgres:5432/prefect"


def test_postgres_creates_both_databases():
    postgres = services()["postgres"]
    assert postgres["image"] == "postgres:16"
    assert environment(postgres)["POSTGRES_DB"] == "workup"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    init_dir = REPO_ROOT / mounts["/docker-entrypoint-initdb.d"]
    assert (init_dir / "01-prefect-db.sql").is_file()
    sql = (init_dir / "01-prefect-db.sql").read_text(encoding="utf-8")
    assert re.search(r"CREATE DATABASE prefect\b", sql, re.IGNORECASE)
    assert "/var/lib/postgresql/data" in mounts and mounts["/var/lib/postgresql/data"] in compose()["volumes"]


def test_depends_on_references_existing_services_without_cycles():
    names = set(services())
    graph = {}
    for name, service in services().items():
        needs = depends_on(service)
        assert set(needs) <= names, f"{name} depends on unknown services {set(needs) - names}"
        assert set(needs.values()) <= CONDITIONS, f"{name}: unknown depends_on condition in {needs}"
        graph[name] = set(needs)
    order, remaining = [], dict(graph)
    while remaining:
        ready = sorted(name for name, needs in remaining.items() if needs <= set(order))
        assert ready, f"depends_on has a cycle among {sorted(remaining)}"
        order.extend(ready)
        for name in ready:
            del remaining[name]


def test_migrate_runs_once_before_web_and_worker():
    migrate = services()["migrate"]
    assert as_argv(migrate["command"]) == ["workup", "db", "upgrade"]
    assert str(migrate.get("restart")) == "no"
    assert depends_on(migrate) == {"postgres": "service_healthy"}
    for name in ("web", "worker"):
        assert depends_on(services()[name]).get("migrate") == "service_completed_successfully", name
    assert depends_on(services()["worker"]).get("prefect-server") == "service_healthy"


def test_worker_deploys_then_polls_the_workup_pool():
    commands = commands_of(services()["worker"])
    assert commands[0][:2] == ["workup", "deploy"]
    assert commands[1][:3] == ["prefect", "worker", "start"]
    start = commands[1]
    assert start[start.index("--pool") + 1] == "workup"
    assert start[start.index("--type") + 1] == "process"


def test_dockerfile_builds_a_non_root_image_with_the_code_in_app():
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert "WORKDIR /app" in instructions
    copied = " ".join(line for line in instructions if line.startswith("COPY"))
    for needed in ("pyproject.toml", "README.md", "alembic.ini", "tracking", "flows", "migrations", "config"):
        assert re.search(rf"(?<![\w/.-]){re.escape(needed)}(?![\w.-])", copied), f"the image lacks {needed}"
    assert any(line.startswith("RUN pip install .") for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    for name, service in services().items():
        if "build" in service:
            assert service["build"] in (".", {"context": "."}), name


# --- config/prefect.yaml ----------------------------------------------------------------------

EXPECTED_DEPLOYMENTS = {
    "sweep-overdue-steps": ("flows/sweep.py:sweep_overdue_steps", {"interval": 300}),
    "send-reminders": ("flows/reminders.py:send_reminders", {"cron": "*/15 * * * *"}),
    "deliver-notifications": ("flows/delivery.py:deliver_notifications", {"interval": 60}),
    "run-pending-case-runs": ("flows/workup.py:run_pending_case_runs", {"interval": 15}),
}


@cache
def prefect_project() -> dict:
    return yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))


def test_prefect_project_file_shape():
    project = prefect_project()
    assert project["name"] and project["prefect-version"].startswith("3.")
    assert project["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}]
    names = [deployment["name"] for deployment in project["deployments"]]
    assert len(names) == len(set(names)), f"deployment names repeat: {names}"


def test_prefect_deployments_are_the_scheduled_flows_on_the_workup_pool():
    found = {}
    for deployment in prefect_project()["deployments"]:
        assert deployment["work_pool"]["name"] == "workup", deployment["name"]
        schedules = deployment.get("schedules")
        assert isinstance(schedules, list) and len(schedules) == 1, f"{deployment['name']} needs one schedule"
        schedule = dict(schedules[0])
        assert schedule.pop("timezone") == "UTC", deployment["name"]
        assert schedule.pop("active", True) is True
        found[deployment["name"]] = (deployment["entrypoint"], schedule)
    assert found == EXPECTED_DEPLOYMENTS


@pytest.mark.parametrize("name", sorted(EXPECTED_DEPLOYMENTS))
def test_prefect_entrypoint_resolves_to_a_flow(name):
    from flows.deployments import load_flow

    entrypoint = EXPECTED_DEPLOYMENTS[name][0]
    flow = load_flow(name, entrypoint)
    assert isinstance(flow, Flow)
    assert flow.name == entrypoint.rsplit(":", 1)[1]  # each flow is named after its function


def test_the_deployment_plan_matches_the_project_file():
    from flows.deployments import planned_deployments

    plan = planned_deployments(PREFECT_FILE)
    assert [(item.name, item.entrypoint) for item in plan] == [
        (deployment["name"], deployment["entrypoint"]) for deployment in prefect_project()["deployments"]
    ]
    assert all(len(item.schedules) == 1 for item in plan)
