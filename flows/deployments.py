"""Register the scheduled flows and the crash-detection automation with Prefect's own machinery.

config/prefect.yaml is a plain Prefect project file and `prefect deploy` registers it: `deploy_all()`
makes sure the work pool exists, runs `prefect --no-prompt deploy --all --prefect-file ...` from the
code directory (REPO_ROOT, /app in the image), reads the deployment ids back, and then creates or
updates, by name, the automations of config/prefect-automations.yaml (the file format of
`prefect automation create --from-file`), and deletes the deployments earlier releases had and this
one retired (flows/retired.py). Running it twice changes nothing.

A dry run checks both files without contacting any API: every deployment has a name, an entrypoint
that resolves to a Prefect flow and a schedule, and every automation parses as Prefect's model.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from prefect import Flow
from prefect.schedules import Cron, Interval, Schedule

from flows.retired import RETIRED_DEPLOYMENTS, retire_deployments
from tracking.cases.errors import InvalidInput
from tracking.commands.deploy import PrefectUnavailable
from tracking.settings import REPO_ROOT

PREFECT_FILE = REPO_ROOT / "config" / "prefect.yaml"
AUTOMATIONS_FILE = REPO_ROOT / "config" / "prefect-automations.yaml"
DEPLOY_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class PlannedDeployment:
    name: str
    entrypoint: str
    flow: Flow
    schedules: list[Schedule]
    description: str | None = None
    tags: list[str] = field(default_factory=list)

    def schedule_text(self) -> str:
        return "; ".join(describe(schedule) for schedule in self.schedules)


def describe(schedule: Schedule) -> str:
    when = f"every {int(schedule.interval.total_seconds())}s" if schedule.interval else f"cron {schedule.cron}"
    return f"{when} ({schedule.timezone or 'UTC'})"


def _module_at(path: Path) -> ModuleType:
    """Import a file under REPO_ROOT under its dotted name (flows/sweep.py -> flows.sweep), once."""
    name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) and Path(loaded.__file__).resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_flow(name: str, entrypoint: str) -> Flow:
    """The Flow object `entrypoint` (`path/to/file.py:attribute`, relative to REPO_ROOT) names."""
    file_part, _, attribute = str(entrypoint).partition(":")
    where = f"deployment {name!r}: entrypoint {entrypoint!r}"
    if not file_part.endswith(".py") or not attribute:
        raise InvalidInput(f"{where} must look like path/to/file.py:flow_function")
    path = (REPO_ROOT / file_part).resolve()
    if not path.is_relative_to(REPO_ROOT) or not path.is_file():
        raise InvalidInput(f"{where}: no file {file_part} in {REPO_ROOT}")
    try:
        module = _module_at(path)
    except Exception as error:
        raise InvalidInput(f"{where}: cannot import {file_part}: {type(error).__name__}: {error}") from error
    candidate = getattr(module, attribute, None)
    if not isinstance(candidate, Flow):
        found = "nothing" if candidate is None else type(candidate).__name__
        raise InvalidInput(f"{where}: {file_part} has no Prefect flow {attribute!r} (found {found})")
    return candidate


def _schedules(name: str, entrypoint: str, entries: Any) -> list[Schedule]:
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"deployment {name!r}: entrypoint {entrypoint!r} needs a non-empty schedules list")
    result = []
    for entry in entries:
        kinds = [key for key in ("interval", "cron") if isinstance(entry, dict) and entry.get(key) is not None]
        if len(kinds) != 1:
            raise InvalidInput(
                f"deployment {name!r}: entrypoint {entrypoint!r}: each schedule needs one of interval or cron"
            )
        timezone = entry.get("timezone", "UTC")
        active = bool(entry.get("active", True))
        if kinds == ["interval"]:
            result.append(Interval(float(entry["interval"]), timezone=timezone, active=active))
        else:
            result.append(Cron(str(entry["cron"]), timezone=timezone, active=active))
    return result


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None


def _check_with_prefect(path: Path, document: dict) -> None:
    """What `prefect deploy` itself checks first (it skips a file that fails, with a warning only)."""
    from prefect.cli.deploy._models import PrefectYamlModel
    from pydantic import ValidationError

    try:
        PrefectYamlModel.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()[:3]
        )
        raise InvalidInput(f"{path} is not a valid Prefect project file: {problems}") from None


def planned_deployments(path: Path = PREFECT_FILE) -> list[PlannedDeployment]:
    """Read the project file and resolve every entrypoint to its flow; raises InvalidInput."""
    document = _read_yaml(path)
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{path} has no deployments list")
    plan = []
    for entry in entries:
        name, entrypoint = entry.get("name"), entry.get("entrypoint")
        if not name or not entrypoint:
            raise InvalidInput(f"{path}: every deployment needs a name and an entrypoint (got {entry!r})")
        plan.append(
            PlannedDeployment(
                name=name,
                entrypoint=entrypoint,
                flow=load_flow(name, entrypoint),
                schedules=_schedules(name, entrypoint, entry.get("schedules")),
                description=entry.get("description"),
                tags=list(entry.get("tags") or []),
            )
        )
    names = [item.name for item in plan]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"{path}: deployment names must be unique, repeated: {', '.join(duplicates)}")
    _check_with_prefect(path, document)
    return plan


def planned_automations(path: Path = AUTOMATIONS_FILE) -> list:
    """The automations of the file as Prefect's AutomationCore models; raises InvalidInput."""
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    document = _read_yaml(path)
    entries = document.get("automations") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{path} has no automations list")
    automations = []
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        try:
            automations.append(AutomationCore.model_validate(entry))
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(str(part) for part in first["loc"]) or "automation"
            label = repr(name) if name else f"#{index + 1}"
            raise InvalidInput(f"{path}: automation {label}: {place}: {first['msg']}") from None
    names = [automation.name for automation in automations]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"{path}: automation names must be unique, repeated: {', '.join(duplicates)}")
    return automations


def describe_automation(automation) -> str:
    trigger = automation.trigger
    after = ", ".join(sorted(getattr(trigger, "after", []) or []))
    expect = ", ".join(sorted(getattr(trigger, "expect", []) or []))
    actions = ", ".join(
        f"{action.type} {getattr(getattr(action, 'state', None), 'value', '') or ''}".strip()
        for action in automation.actions
    )
    if getattr(trigger, "posture", None) == "Proactive" and after:
        when = f"no {expect} within {int(trigger.within.total_seconds())}s after {after}"
    else:
        when = type(trigger).__name__
    return f"{when} -> {actions}"


def ensure_work_pool(name: str) -> None:
    """Create the process work pool (with the process worker's default job template) if missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))


def prefect_executable() -> str:
    beside = Path(sys.executable).with_name("prefect")
    return str(beside) if beside.exists() else "prefect"


def _client_environment() -> dict[str, str]:
    """This process's Prefect client settings (profile, env or temporary settings) for a child process."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PREFECT_CLI_PROMPT": "false"}
    if settings.api.url:
        env["PREFECT_API_URL"] = str(settings.api.url)
    if settings.api.auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = settings.api.auth_string.get_secret_value()
    if settings.api.key is not None:
        env["PREFECT_API_KEY"] = settings.api.key.get_secret_value()
    # `{{ $PWD }}` in the project file: the code directory, whatever the caller's cwd is.
    env["PWD"] = str(REPO_ROOT)
    return env


def _last_message(output: str) -> str:
    """The last meaningful line of Prefect's CLI output (its error), without rich's box drawing."""
    lines = [line.strip(" │╭╮╰╯─") for line in output.splitlines()]
    lines = [line for line in lines if line and not re.fullmatch(r"[\s─━═│┃╭╮╰╯┌┐└┘]*", line)]
    return " ".join(lines[-1].split())[:400] if lines else "no output"


def _project_file_for(path: Path, work_pool: str, directory: Path) -> Path:
    """The project file itself when its deployments use `work_pool`, else a copy that does."""
    document = _read_yaml(path)
    deployments = document.get("deployments") or []
    if all((entry.get("work_pool") or {}).get("name") == work_pool for entry in deployments):
        return Path(path)
    for entry in deployments:
        entry["work_pool"] = {**(entry.get("work_pool") or {}), "name": work_pool}
    copy = directory / "prefect.yaml"
    copy.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return copy


def run_prefect_deploy(path: Path, work_pool: str) -> None:
    """`prefect --no-prompt deploy --all --prefect-file PATH` from REPO_ROOT; one-line error on failure."""
    with tempfile.TemporaryDirectory(prefix="workup-deploy-") as directory:
        project = _project_file_for(path, work_pool, Path(directory))
        command = [prefect_executable(), "--no-prompt", "deploy", "--all", "--prefect-file", str(project)]
        try:
            result = subprocess.run(command, cwd=REPO_ROOT, env=_client_environment(), capture_output=True,
                                    text=True, timeout=DEPLOY_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise PrefectUnavailable(f"prefect deploy did not finish within {DEPLOY_TIMEOUT_SECONDS}s") from None
        except OSError as error:
            raise PrefectUnavailable(f"cannot run prefect deploy: {error.strerror}") from None
    if result.returncode != 0:
        raise PrefectUnavailable(f"prefect deploy failed: {_last_message(result.stdout + result.stderr)}")


def deployment_ids(plan: list[PlannedDeployment]) -> dict[str, str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {item.name: str(client.read_deployment_by_name(f"{item.flow.name}/{item.name}").id) for item in plan}


def apply_automations(automations: list) -> list[dict]:
    """Create each automation, or update the one of the same name (extra copies are deleted)."""
    from prefect.client.orchestration import get_client

    rows = []
    with get_client(sync_client=True) as client:
        for automation in automations:
            existing = sorted(client.read_automations_by_name(automation.name), key=lambda found: str(found.id))
            if existing:
                automation_id, change = existing[0].id, "updated"
                client.update_automation(automation_id, automation)
                for duplicate in existing[1:]:
                    client.delete_automation(duplicate.id)
            else:
                automation_id, change = client.create_automation(automation), "created"
            rows.append({"name": automation.name, "id": str(automation_id), "change": change})
    return rows


def deploy_all(
    work_pool: str = "workup",
    dry_run: bool = False,
    *,
    path: Path = PREFECT_FILE,
    automations_path: Path = AUTOMATIONS_FILE,
) -> dict[str, list[dict]]:
    """Create or update every deployment and automation; dry_run only checks the two files.

    Deployments an earlier release registered and this one retired (flows/retired.py) are deleted.
    Returns {"deployments": [{name, flow, entrypoint, schedule, id}], "automations": [{name, rule,
    id, change}], "retired": [{name, id, change}]}, ids and changes None in a dry run.
    """
    plan = planned_deployments(path)
    automations = planned_automations(automations_path)
    ids: dict[str, str] = {}
    applied: dict[str, dict] = {}
    retired = [{"name": name, "id": None, "change": None} for name in RETIRED_DEPLOYMENTS]
    if not dry_run:
        ensure_work_pool(work_pool)
        run_prefect_deploy(path, work_pool)
        ids = deployment_ids(plan)
        applied = {row["name"]: row for row in apply_automations(automations)}
        retired = retire_deployments()
    return {
        "deployments": [
            {
                "name": item.name,
                "flow": item.flow.name,
                "entrypoint": item.entrypoint,
                "schedule": item.schedule_text(),
                "id": ids.get(item.name),
            }
            for item in plan
        ],
        "automations": [
            {
                "name": automation.name,
                "rule": describe_automation(automation),
                "id": applied.get(automation.name, {}).get("id"),
                "change": applied.get(automation.name, {}).get("change"),
            }
            for automation in automations
        ],
        "retired": retired,
    }
