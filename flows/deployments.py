"""Register the scheduled flows as Prefect deployments, as config/prefect.yaml describes them.

`workup deploy` calls `deploy_all()`; `prefect deploy --all --prefect-file config/prefect.yaml`
reads the same file. Either way a worker on the `workup` pool (type process) runs the flows.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from prefect import Flow
from prefect.schedules import Cron, Interval, Schedule

from tracking.cases.errors import InvalidInput
from tracking.settings import REPO_ROOT

PREFECT_FILE = REPO_ROOT / "config" / "prefect.yaml"


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


def planned_deployments(path: Path = PREFECT_FILE) -> list[PlannedDeployment]:
    """Read the project file and resolve every entrypoint to its flow; raises InvalidInput."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"{path} is not valid YAML: {error}") from None
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
    return plan


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


def deploy_all(work_pool: str = "workup", dry_run: bool = False, *, path: Path = PREFECT_FILE) -> list[dict]:
    """Create or update every deployment in the project file; dry_run only resolves the plan."""
    plan = planned_deployments(path)
    if not dry_run:
        ensure_work_pool(work_pool)
    results = []
    for item in plan:
        deployment_id = None
        if not dry_run:
            deployment = item.flow.to_deployment(
                name=item.name,
                schedules=item.schedules,
                description=item.description,
                tags=item.tags,
                job_variables={"working_dir": str(REPO_ROOT)},
            )
            # Entrypoint relative to the code directory, and that directory as the flow's
            # source: the process worker runs the flow there, whatever the caller's cwd was.
            deployment.entrypoint = item.entrypoint
            deployment._path = str(REPO_ROOT)
            deployment_id = str(deployment.apply(work_pool_name=work_pool))
        results.append(
            {
                "name": item.name,
                "flow": item.flow.name,
                "entrypoint": item.entrypoint,
                "schedule": item.schedule_text(),
                "id": deployment_id,
            }
        )
    return results
