"""The scaled-out deployment files are consistent with the code and safe to run in production:
docker-compose.yml, .env.example, the Dockerfile, config/prefect.yaml and config/prefect-automations.yaml.

There is no Docker engine here (and no `docker compose` plugin), so nothing is started. Instead:

- the compose file is interpolated the way compose does it (`${VAR}`, `${VAR:-default}`,
  `${VAR:?error}`, `$$`) with the variables of .env.example, and validated against the Compose
  Specification JSON schema. The schema file, tests/integration/compose_spec.json, is vendored
  unchanged from the `docker-compose` 1.29.2 wheel on PyPI (compose/config/compose_spec.json,
  Apache License 2.0; sha256 0dc04bd3...2bac);
- every command a container runs is resolved against the real CLIs (`workup` through its Click
  tree, `prefect` by running its --help), every setting it is given must be one the code reads,
  and every deployment must name a real flow;
- secrets come from .env only: no literal password in the compose file, .env git-ignored.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import typer
import yaml
from prefect import Flow
from pydantic import AliasChoices
from sqlalchemy import text

from tracking.cli import app
from tracking.settings import REPO_ROOT, Settings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
PREFECT_FILE = REPO_ROOT / "config" / "prefect.yaml"
AUTOMATIONS_FILE = REPO_ROOT / "config" / "prefect-automations.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_SCHEMA = Path(__file__).with_name("compose_spec.json")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}
SHELLS = {"sh", "bash", "dash"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
ONE_SHOTS = {"migrate"}
WORKER_IGNORES_SIGTERM_SECONDS = 40  # measured: a process worker ignores its first SIGTERM this long
SECRET_NAME = re.compile(r"PASSWORD|SECRET|AUTH_STRING|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)

# What an operator would put in .env: plausible values for the required settings of .env.example.
FILLED_ENV = {
    "POSTGRES_PASSWORD": "3f9c2a7b1d4e8f6a0b5c9d2e7f1a3b4c",
    "PREFECT_API_AUTH_STRING": "workup:8e1d7c3b9a2f4e6d0c5b1a7f3e9d2c4b",
    "WORKUP_BASE_URL": "https://workup.example.org",
    "WORKUP_SMTP_HOST": "smtp.example.org",
    "WORKUP_MAIL_FROM": "breast-workup@example.org",
    "WORKUP_NAVIGATOR_EMAIL": "navigators@example.org",
}
NOTIFICATION_SETTINGS = {
    "WORKUP_SMTP_HOST", "WORKUP_SMTP_PORT", "WORKUP_SMTP_STARTTLS", "WORKUP_SMTP_SSL", "WORKUP_SMTP_USER",
    "WORKUP_SMTP_PASSWORD", "WORKUP_MAIL_FROM", "WORKUP_NAVIGATOR_EMAIL", "WORKUP_ESCALATION_EMAIL",
    "WORKUP_ALERT_WEBHOOK_URL", "WORKUP_PATIENT_MESSAGING_WEBHOOK_URL", "WORKUP_BASE_URL", "WORKUP_SMTP_CA_FILE",
    "WORKUP_FAX_GATEWAY",
}  # fmt: skip


# --- compose variable interpolation (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/)

VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


class MissingVariable(Exception):
    pass


def interpolate_string(value: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        parts = BRACED.fullmatch(match["braced"])
        assert parts, f"bad interpolation {match[0]!r}"
        name, op, arg = parts["name"], parts["op"], parts["arg"] or ""
        present = name in env
        filled = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            return env[name] if (filled if op == ":-" else present) else arg
        if op in (":?", "?"):
            if not (filled if op == ":?" else present):
                raise MissingVariable(f"required variable {name} is missing a value: {arg}")
            return env[name]
        return arg if (filled if op == ":+" else present) else ""  # :+ and +

    return VARIABLE.sub(replace, value)


def interpolate(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def variables_in(node) -> set[str]:
    """Every variable the compose file reads (names only)."""
    if isinstance(node, str):
        found = set()
        for match in VARIABLE.finditer(node):
            if match["named"]:
                found.add(match["named"])
            elif match["braced"]:
                found.add(BRACED.fullmatch(match["braced"])["name"])
        return found
    if isinstance(node, list):
        return set().union(*(variables_in(item) for item in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(variables_in(value) for value in node.values())) if node else set()
    return set()


def required_variables(node) -> set[str]:
    """Variables written ${VAR:?...} or ${VAR?...} somewhere."""
    found = set()
    for match in VARIABLE.finditer(json.dumps(node)):
        parts = BRACED.fullmatch(match["braced"] or "")
        if parts and parts["op"] in (":?", "?"):
            found.add(parts["name"])
    return found


def env_example() -> tuple[dict[str, str], set[str]]:
    """(the variables set in .env.example with their values, the names only mentioned commented out)."""
    values, commented = {}, set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        active = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if active:
            values[active[1]] = active[2]
        elif quiet := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            commented.add(quiet[1])
    return values, commented


# --- the compose file, raw and as compose would run it -----------------------------------------


@cache
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@cache
def compose() -> dict:
    """The compose file interpolated with .env.example filled in as an operator would."""
    return interpolate(raw_compose(), FILLED_ENV)


def services() -> dict[str, dict]:
    return compose()["services"]


def raw_services() -> dict[str, dict]:
    return raw_compose()["services"]


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


def seconds(duration: str | int | float) -> float:
    """A compose duration (90s, 1m30s, 2m) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def published_ports(service: dict) -> list[tuple[str, str]]:
    """(host ip or '' for every interface, container port) of each published port."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            found.append((str(port.get("host_ip", "")), str(port["target"])))
            continue
        spec = str(port).split("/", 1)[0]
        pieces = spec.rsplit(":", 2)
        host_ip = pieces[0] if len(pieces) == 3 else ""
        found.append((host_ip, pieces[-1]))
    return found


# --- the file as compose sees it -------------------------------------------------------------


@cache
def schema_validator() -> jsonschema.Draft201909Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def test_the_compose_file_is_valid_against_the_compose_spec_schema():
    errors = sorted(schema_validator().iter_errors(compose()), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_can_fail():
    broken = json.loads(json.dumps(compose()))
    broken["services"]["worker"]["stop_grace_periods"] = "90s"  # a typo compose would refuse
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_done"
    messages = [error.message for error in schema_validator().iter_errors(broken)]
    assert len(messages) == 2, messages


def test_compose_refuses_to_start_without_each_required_setting():
    required = required_variables(raw_compose())
    assert required == set(FILLED_ENV), "the required variables of docker-compose.yml changed: update FILLED_ENV"
    for name in sorted(required):
        for env in ({k: v for k, v in FILLED_ENV.items() if k != name}, {**FILLED_ENV, name: ""}):
            with pytest.raises(MissingVariable, match=rf"required variable {name} is missing a value: set {name}"):
                interpolate(raw_compose(), env)
    # .env.example as shipped (required values empty) does not start either.
    shipped, _ = env_example()
    with pytest.raises(MissingVariable):
        interpolate(raw_compose(), shipped)


def test_env_example_lists_every_variable_the_compose_file_reads():
    values, commented = env_example()
    used = variables_in(raw_compose())
    assert used == set(values) | commented, (
        f"compose reads {sorted(used - set(values) - commented)} that .env.example does not list; "
        f".env.example lists {sorted((set(values) | commented) - used)} that compose never reads"
    )
    assert set(values) == required_variables(raw_compose()), "required = set (empty) in .env.example"
    assert all(value == "" for value in values.values()), f"placeholders must be empty, got {values}"
    for name in used:
        if name.startswith("WORKUP_"):
            assert name in settings_aliases(), f"{name} is not a setting of tracking/settings.py"


def test_env_file_is_git_ignored_and_the_example_is_not():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT).returncode == 0

    assert ignored(".env")
    assert ignored(".env.production")
    assert not ignored(".env.example")


def literal_passwords(text_: str) -> list[str]:
    """user:password@ in URLs whose password is not a ${VARIABLE}."""
    return [m[0] for m in re.finditer(r"://[^\s/:@]+:(?!\$\{)[^\s@]+@", text_)]


def test_no_password_is_written_in_the_compose_file_or_the_image():
    text_ = COMPOSE_FILE.read_text(encoding="utf-8")
    assert literal_passwords(text_) == []
    assert literal_passwords("postgresql+psycopg://workup:workup@postgres:5432/workup")  # the check bites
    for where, service in raw_services().items():
        for name, value in environment(service).items():
            if SECRET_NAME.search(name) and value:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", value), (
                    f"{where}: {name} must come from .env (a ${{VARIABLE}}), not be written here"
                )
                assert not re.fullmatch(r"\$\{[A-Z0-9_]+:?-.+\}", value), f"{where}: {name} has a default password"
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(ENV|ARG)\s+\S*(PASSWORD|AUTH_STRING|SECRET)", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert literal_passwords(dockerfile) == []


# --- Prefect: reachable inside the compose network or on loopback, behind basic auth -------------


def test_the_prefect_api_is_not_published_on_all_interfaces():
    server = services()["prefect-server"]
    command = commands_of(server)[0]
    port = command[command.index("--port") + 1] if "--port" in command else "4200"
    for name, service in services().items():
        for host_ip, target in published_ports(service):
            if name == "prefect-server" or target == port:
                assert host_ip in ("127.0.0.1", "::1", "[::1]"), (
                    f"{name} publishes {target} on every interface; use 127.0.0.1:{target}:{target} or no port"
                )
    assert published_ports(server) == [("127.0.0.1", "4200")]
    assert published_ports({"ports": ["4200:4200"]}) == [("", "4200")]  # the check reads the short syntax


def test_the_prefect_server_requires_basic_auth_and_every_client_sends_it():
    raw = raw_services()
    server_auth = environment(raw["prefect-server"]).get("PREFECT_SERVER_API_AUTH_STRING", "")
    assert server_auth.startswith("${PREFECT_API_AUTH_STRING:?"), server_auth
    clients = [name for name, service in services().items() if "PREFECT_API_URL" in environment(service)]
    talks_to_prefect = {name for name, argv in all_commands("prefect") if argv[1:2] != ["server"]}
    talks_to_prefect |= {name for name, argv in all_commands("workup") if argv[1:2] in (["deploy"], ["worker"])}
    assert talks_to_prefect == {"worker", "runner"}
    assert talks_to_prefect <= set(clients), "a service that uses the Prefect API has no PREFECT_API_URL"
    for name in clients:
        env = environment(services()[name])
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api", name
        assert environment(raw[name]).get("PREFECT_API_AUTH_STRING") == server_auth, f"{name} sends no credentials"
        assert (
            env["PREFECT_API_AUTH_STRING"]
            == environment(services()["prefect-server"])["PREFECT_SERVER_API_AUTH_STRING"]
        )
    for name in ("PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING", "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        assert is_prefect_setting(name), f"Prefect {__import__('prefect').__version__} has no setting {name}"


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
    assert found == {("migrate", "db upgrade"), ("worker", "deploy"), ("runner", "worker"), ("web", "serve")}


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
    assert set(services()) == {"postgres", "migrate", "prefect-server", "worker", "runner", "web"}


@pytest.mark.parametrize("name", sorted(set(raw_services()) - ONE_SHOTS))
def test_every_long_running_service_has_a_healthcheck_and_restarts(name):
    service = services()[name]
    healthcheck = service.get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
    test = healthcheck.get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (
        f"{name}: healthcheck test must be [CMD, ...] or [CMD-SHELL, ...], got {test!r}"
    )
    assert service.get("restart") in ("unless-stopped", "always"), name


def test_settings_aliases_are_collected():
    aliases = settings_aliases()
    assert {"DATABASE_URL", "WORKUP_DATABASE_URL", "WORKUP_SCHEDULER_ENABLED", "WORKUP_HOME"} <= aliases
    assert "WORKUP_NOT_A_SETTING" not in aliases


@pytest.mark.parametrize("name", sorted(raw_services()))
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
    # The values parse, with only the required ones in .env and the optional ones on their defaults.
    Settings(_env_file=None, **ours)


@pytest.mark.parametrize("name", ["worker", "runner", "web"])
def test_mail_and_recipient_settings_reach_the_services_that_send(name):
    env = environment(services()[name])
    assert set(env) >= NOTIFICATION_SETTINGS, f"{name} lacks {sorted(NOTIFICATION_SETTINGS - set(env))}"
    settings = Settings(_env_file=None, **{key: value for key, value in env.items() if key in settings_aliases()})
    assert settings.smtp_host == "smtp.example.org"
    assert settings.navigator_email == "navigators@example.org"
    assert settings.base_url == "https://workup.example.org"
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_ssl) == (25, False, False)  # the defaults
    overridden = environment(
        interpolate(raw_services()[name], {**FILLED_ENV, "WORKUP_SMTP_PORT": "587", "WORKUP_SMTP_STARTTLS": "true"})
    )
    assert (overridden["WORKUP_SMTP_PORT"], overridden["WORKUP_SMTP_STARTTLS"]) == ("587", "true")


def test_app_services_share_the_database_and_web_leaves_scheduling_to_prefect():
    password = FILLED_ENV["POSTGRES_PASSWORD"]
    database = f"postgresql+psycopg://workup:{password}@postgres:5432/workup"
    for name in ("migrate", "worker", "runner", "web"):
        assert environment(services()[name]).get("DATABASE_URL") == database, name
    assert environment(services()["postgres"])["POSTGRES_PASSWORD"] == password
    web = Settings(
        _env_file=None, **{k: v for k, v in environment(services()["web"]).items() if k.startswith("WORKUP")}
    )
    assert web.scheduler_enabled is False
    server_db = environment(services()["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert server_db == f"postgresql+asyncpg://workup:{password}@postgres:5432/prefect"


def test_postgres_creates_both_databases():
    postgres = services()["postgres"]
    assert postgres["image"] == "postgres:16"
    assert environment(postgres)["POSTGRES_DB"] == "workup"
    assert environment(postgres)["POSTGRES_USER"] == "workup"  # config/postgres-init grants `prefect` to it
    assert not postgres.get("ports"), "PostgreSQL stays inside the compose network"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    init_dir = REPO_ROOT / mounts["/docker-entrypoint-initdb.d"]
    assert (init_dir / "01-prefect-db.sql").is_file()
    sql = (init_dir / "01-prefect-db.sql").read_text(encoding="utf-8")
    assert re.search(r"CREATE DATABASE prefect OWNER workup\b", sql, re.IGNORECASE)
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


def test_migrate_is_a_one_shot_that_web_worker_and_runner_wait_for():
    migrate = services()["migrate"]
    assert as_argv(migrate["command"]) == ["workup", "db", "upgrade"]
    assert str(migrate.get("restart")) == "no"
    assert "healthcheck" not in migrate, "a one-shot has no healthcheck: the others wait for its exit code"
    assert depends_on(migrate) == {"postgres": "service_healthy"}
    for name in ("web", "worker", "runner"):
        assert depends_on(services()[name]).get("migrate") == "service_completed_successfully", name
    for name in ("worker", "runner"):
        assert depends_on(services()[name]).get("prefect-server") == "service_healthy", name


def test_worker_deploys_then_polls_the_workup_pool_with_a_limit_and_time_to_stop():
    worker = services()["worker"]
    commands = commands_of(worker)
    assert commands[0][:2] == ["workup", "deploy"]
    assert commands[1][:3] == ["prefect", "worker", "start"]
    start = commands[1]
    assert start[start.index("--pool") + 1] == "workup"
    assert start[start.index("--type") + 1] == "process"
    assert int(start[start.index("--limit") + 1]) >= 1, "the worker needs a concurrency limit"
    assert seconds(worker["stop_grace_period"]) > WORKER_IGNORES_SIGTERM_SECONDS + 10
    assert worker.get("init") is True, "an init process reaps the flow-run processes and forwards signals"
    assert int(environment(worker)["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) >= 30  # Prefect's minimum


def test_the_runner_serves_case_runs_and_delivery_in_one_process_with_time_to_finish_a_pass():
    from tracking.worker.loop import STOP_GRACE_SECONDS

    runner = services()["runner"]
    (command,) = commands_of(runner)[:1]
    assert command[:2] == ["workup", "worker"]
    assert runner.get("init") is True, "an init process passes SIGTERM on to the worker"
    assert seconds(runner["stop_grace_period"]) > STOP_GRACE_SECONDS + 10, "the pass in progress may finish"
    assert (
        environment(runner)["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]
        == environment(services()["worker"])["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]
    )
    # The healthcheck reads the age of the file the worker touches each time it looks for work.
    alive = command[command.index("--alive-file") + 1]
    health = commands_of(runner)[1]
    assert health[:2] == ["python", "-c"] and repr(alive) in health[2], health
    assert "Settings" not in health[2] and "import tracking" not in health[2], "a bare interpreter: cheap every 30 s"


def test_dockerfile_builds_a_non_root_image_with_the_code_in_app():
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert "WORKDIR /app" in instructions
    copied = " ".join(line for line in instructions if line.startswith("COPY"))
    for needed in ("pyproject.toml", "README.md", "alembic.ini", "tracking", "flows", "migrations", "config"):
        assert re.search(rf"(?<![\w/.-]){re.escape(needed)}(?![\w.-])", copied), f"the image lacks {needed}"
    assert any(line.startswith("RUN pip install .") for line in instructions)
    sources = [word for line in instructions if line.startswith("COPY ") for word in line.split()[1:-1]]
    assert not [word for word in sources if word in (".", "./") or word.startswith(".env")], "never copy . or .env"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    for name, service in services().items():
        if "build" in service:
            assert service["build"] in (".", {"context": "."}), name


# --- config/prefect.yaml and config/prefect-automations.yaml ----------------------------------

EXPECTED_DEPLOYMENTS = {
    "sweep-overdue-steps": ("flows/sweep.py:sweep_overdue_steps", {"interval": 300}),
    "send-reminders": ("flows/reminders.py:send_reminders", {"cron": "*/15 * * * *"}),
}  # case runs and delivery: the runner (`workup worker`), not deployments


@cache
def prefect_project() -> dict:
    return yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))


def test_prefect_project_file_shape():
    project = prefect_project()
    assert project["name"] and project["prefect-version"].startswith("3.")
    # The code directory is the one deployed from (Prefect's env templating), not a fixed /app.
    assert project["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]
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


def test_flow_runs_send_heartbeats_often_enough_for_the_crash_automation():
    from flows.deployments import planned_automations

    worker_frequency = int(environment(services()["worker"])["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    assert int(environment(services()["runner"])["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) == worker_frequency
    for deployment in prefect_project()["deployments"]:
        job_env = deployment["work_pool"]["job_variables"]["env"]
        assert int(job_env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) == worker_frequency, deployment["name"]
    (crash,) = [a for a in planned_automations(AUTOMATIONS_FILE) if a.name == "crash-flow-runs-without-heartbeat"]
    assert crash.trigger.after == {"prefect.flow-run.heartbeat"}
    assert crash.trigger.posture == "Proactive"
    assert crash.trigger.for_each == {"prefect.resource.id"}
    assert crash.actions[0].type == "change-flow-run-state" and crash.actions[0].state.value == "CRASHED"
    # Two missed heartbeats never crash a live run; three do.
    assert 2 * worker_frequency < crash.trigger.within.total_seconds() <= 3 * worker_frequency


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


# --- `workup demo` and a DATABASE_URL database ----------------------------------------------

WORKUP = str(Path(sys.executable).parent / "workup")


def run_workup(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:compose-test"}
    return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=env, timeout=180)


def rows(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("patients", "cases", "case_events", "users", "audit_log")
        }


def test_demo_refuses_a_database_url_without_force_and_writes_nothing(database_url, committed):
    before = rows(committed)
    refused = run_workup(database_url, "demo")
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: DATABASE_URL names a database"), refused.stderr
    assert "--force" in lines[0] and "Traceback" not in refused.stderr
    assert rows(committed) == before

    loaded = run_workup(database_url, "demo", "--force")
    assert loaded.returncode == 0, loaded.stderr
    after = rows(committed)
    assert after["cases"] > before["cases"] and after["users"] > before["users"]
