"""`workup serve` and `workup scheduler` leave no process behind, however they end.

Each test starts the real command in its own process group (start_new_session) against the test
database, with WORKUP_HOME in tmp_path and no PREFECT_API_URL (embedded mode): the process then
starts one `prefect server start` child of its own. The tests find processes through /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.faults.conftest import (
    Proc,
    command_line,
    descendants,
    free_port,
    poll,
    process_group,
    still_alive,
)
from tracking.settings import REPO_ROOT

pytestmark = pytest.mark.faults

WORKUP = str(Path(sys.executable).parent / "workup")
READY_SECONDS = 120  # the Prefect child's first start migrates its store: ~10 s idle, more on a busy machine
GONE_SECONDS = 20  # the deadline: nothing of the group remains 20 s after SIGTERM


def is_prefect_server(pid: int) -> bool:
    """Ours (`prefect server start`) or Prefect's own temporary one (uvicorn ...prefect.server.api.server)."""
    words = command_line(pid)
    ours = "prefect" in " ".join(words) and "server" in words and "start" in words
    return ours or any("prefect.server.api.server" in word for word in words)


def prefect_port(pid: int) -> int:
    words = command_line(pid)
    return int(words[words.index("--port") + 1])


def prefect_healthy(pid: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{prefect_port(pid)}/api/health", timeout=2).status_code == 200
    except (httpx.HTTPError, ValueError):
        return False


def databases(url: str) -> set[str]:
    admin = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, connect_timeout=5) as connection:
        return {name for (name,) in connection.execute("SELECT datname FROM pg_database")}


@contextmanager
def workup_command(args: list[str], database_url: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """`workup ARGS` in a new session (its own process group); SIGKILLed with all it started if still there."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "WORKUP_")) and key != "DATABASE_URL"
    }
    env |= {"DATABASE_URL": database_url, "WORKUP_HOME": str(tmp_path / "home"), "WORKUP_SCHEDULER_ENABLED": "true"}
    log_path = tmp_path / f"workup-{args[0]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([WORKUP, *args], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    seen: set[Proc] = set()
    process.log_path = log_path  # type: ignore[attr-defined]
    process.seen = seen  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        for pid, _ in still_alive(seen | descendants(process.pid)):
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_for_prefect_child(process: subprocess.Popen, *, healthy: bool = True) -> int:
    """The pid of the command's one Prefect server child, once it is up (or just started)."""

    def found() -> int | None:
        if process.poll() is not None:
            pytest.fail(f"workup exited ({process.returncode}):\n{process.log_path.read_text()[-4000:]}")
        below = descendants(process.pid)
        process.seen.update(below)
        servers = [pid for pid, _ in below if is_prefect_server(pid)]
        assert len(servers) <= 1, f"more than one Prefect server: {[command_line(pid) for pid in servers]}"
        if servers and (not healthy or prefect_healthy(servers[0])):
            return servers[0]
        return None

    return poll(found, "the Prefect server child", READY_SECONDS, pause=0.1)


def healthz(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def terminate_and_wait_until_gone(process: subprocess.Popen, signum: int = signal.SIGTERM) -> float:
    """Signal the command's process group; seconds until neither the group nor anything it started lives."""
    process.seen.update(descendants(process.pid))
    watched = process.seen | process_group(process.pid)
    sent = time.monotonic()
    os.killpg(process.pid, signum)
    poll(lambda: not still_alive(watched) and not process_group(process.pid),
         f"every process of the group to end: {[command_line(pid) for pid, _ in still_alive(watched)]}",
         GONE_SECONDS)  # fmt: skip
    gone = time.monotonic() - sent
    process.wait(timeout=5)
    return gone


def test_serve_stops_its_scheduler_and_prefect_child_on_sigterm(database_url, committed, tmp_path):
    before = databases(database_url)
    port = free_port()
    with workup_command(["serve", "--port", str(port)], database_url, tmp_path) as process:
        prefect = wait_for_prefect_child(process)
        poll(lambda: healthz(port), "/healthz", READY_SECONDS, pause=0.1)
        assert [pid for pid, _ in descendants(process.pid) if is_prefect_server(pid)] == [prefect]
        assert os.getpgid(prefect) == prefect  # its own group: a terminal's Ctrl-C reaches only workup

        terminate_and_wait_until_gone(process)
        log = process.log_path.read_text()
        assert process.returncode == 0, log[-4000:]  # stopped by its own handler, cleanup done
    assert "prefect" not in databases(database_url) - before
    assert (tmp_path / "home" / "prefect" / "prefect.db").exists()  # Prefect's history stays under WORKUP_HOME


def test_scheduler_stops_its_prefect_child_on_sigterm_and_sigint(database_url, committed, tmp_path):
    for signum in (signal.SIGTERM, signal.SIGINT):
        with workup_command(["scheduler"], database_url, tmp_path) as process:
            wait_for_prefect_child(process)
            poll(lambda: "Embedded scheduler started" in process.log_path.read_text(), "the scheduler", 30)
            terminate_and_wait_until_gone(process, signum)
            assert process.returncode == 0, process.log_path.read_text()[-4000:]


def test_sigterm_while_the_prefect_child_starts_leaves_nothing(database_url, committed, tmp_path):
    with workup_command(["scheduler"], database_url, tmp_path) as process:
        wait_for_prefect_child(process, healthy=False)  # started, usually not answering yet
        terminate_and_wait_until_gone(process)


def test_parent_death_takes_the_prefect_child_down(database_url, committed, tmp_path):
    with workup_command(["scheduler"], database_url, tmp_path) as process:
        prefect = wait_for_prefect_child(process)
        child = still_alive({(pid, start) for pid, start in process.seen if pid == prefect})
        process.send_signal(signal.SIGKILL)  # only the parent: no handler, no atexit, no cleanup of its own
        process.wait(timeout=10)
        poll(lambda: not still_alive(child), "the orphaned Prefect server to die (PDEATHSIG)", GONE_SECONDS)
