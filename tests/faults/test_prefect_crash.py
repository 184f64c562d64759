"""A flow run whose process dies is marked Crashed by Prefect, so its history tells the truth.

Everything is real: `prefect server start` (history on a fresh PostgreSQL database, basic auth on,
as in docker-compose.yml), `workup deploy` registering the deployments and the automation of
config/prefect-automations.yaml on it, and a flow run in its own process with heartbeats on. The
process is SIGKILLed while the run is Running (nothing gets to report a final state), and Prefect's
automation, seeing its heartbeats stop, sets the run to Crashed.

Prefect's shortest heartbeat is 30 s (PREFECT_FLOWS_HEARTBEAT_FREQUENCY is validated >= 30), and the
automation waits 90 s after the last heartbeat, so this test takes about two minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import pytest

from flows.deployments import AUTOMATIONS_FILE, planned_automations
from tests.prefect_server import PrefectServer, running_prefect_server

pytestmark = pytest.mark.faults

WORKUP = str(Path(sys.executable).parent / "workup")
AUTH_STRING = "workup-test:5c1d9e2f7a3b"
HEARTBEAT_SECONDS = 30  # Prefect's minimum
FLOW_START_SECONDS = 90
CRASH_SECONDS = 300  # the automation fires 90 s after the last heartbeat; generous for a busy machine

# A tiny flow with no patient data: it says which run it is, then works until it is killed.
SLEEPER = """
import time

from prefect import flow
from prefect.runtime import flow_run


@flow(name="crash-test-sleeper", log_prints=False)
def sleeper():
    print(flow_run.id, flush=True)
    while True:
        time.sleep(0.5)


if __name__ == "__main__":
    sleeper()
"""

T = TypeVar("T")


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str, interval: float = 0.5) -> T:
    """Read until `done(value)`; fail after `timeout` seconds with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def client_env(prefect: PrefectServer, home: Path) -> dict[str, str]:
    """This environment without any Prefect setting of the test session, pointed at `prefect`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.pop("DATABASE_URL", None)
    env.update(prefect.client_env(), PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def flow_run_state(prefect: PrefectServer, flow_run_id: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: prefect.api_url, PREFECT_API_AUTH_STRING: prefect.auth_string}),
        get_client(sync_client=True) as client,
    ):
        return client.read_flow_run(flow_run_id).state


def heartbeats(prefect: PrefectServer, flow_run_id: str) -> int:
    """How many heartbeat events of the run the server has recorded."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    wanted = EventFilter(
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    with (
        temporary_settings({PREFECT_API_URL: prefect.api_url, PREFECT_API_AUTH_STRING: prefect.auth_string}),
        get_client(sync_client=True) as client,
    ):
        return client.read_events(filter=wanted, limit=10).total  # the server allows 50 at most


def test_a_flow_run_whose_process_is_killed_is_marked_crashed(tmp_path, server_url):
    (automation,) = planned_automations(AUTOMATIONS_FILE)
    started = time.monotonic()
    with running_prefect_server(tmp_path, server_url, auth_string=AUTH_STRING) as prefect:
        server_started = time.monotonic() - started
        env = client_env(prefect, tmp_path / "client-home")

        # Register everything exactly as the compose worker does (cwd elsewhere: no .env is read).
        deployed = subprocess.run([WORKUP, "deploy", "--json"], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=300)  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        registered = json.loads(deployed.stdout)
        assert [row["name"] for row in registered["automations"]] == [automation.name]
        assert all(row["id"] for row in registered["deployments"] + registered["automations"])

        script = tmp_path / "sleeper.py"
        script.write_text(SLEEPER)
        log = (tmp_path / "sleeper.log").open("w")
        runner = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**env, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # its own process group: killed whole, like a lost container
        )
        try:
            flow_run_id = runner.stdout.readline().strip()  # printed once the run is Running
            assert flow_run_id, f"the flow process ended ({runner.poll()}): {(tmp_path / 'sleeper.log').read_text()}"
            assert flow_run_state(prefect, flow_run_id).type.value == "RUNNING"
            # The automation arms on a heartbeat: wait until the server has the first one.
            poll(lambda: heartbeats(prefect, flow_run_id), lambda count: count >= 1, FLOW_START_SECONDS,
                 "the first heartbeat of the run")  # fmt: skip

            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(timeout=10)
            killed = time.monotonic()
            assert runner.returncode == -signal.SIGKILL
            assert flow_run_state(prefect, flow_run_id).type.value == "RUNNING"  # nobody reported anything

            state = poll(lambda: flow_run_state(prefect, flow_run_id), lambda s: s.type.value != "RUNNING",
                         CRASH_SECONDS, "Prefect to mark the killed run Crashed", interval=2)  # fmt: skip
            crashed_after = time.monotonic() - killed
        finally:
            if runner.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(runner.pid, signal.SIGKILL)
                runner.wait(timeout=10)
            log.close()

        assert state.type.value == "CRASHED", state
        assert state.message == automation.actions[0].message  # set by our automation, not by anything else
        print(f"\nPrefect server up in {server_started:.1f}s; run Crashed {crashed_after:.0f}s after the SIGKILL")
