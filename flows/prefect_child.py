"""The one Prefect server an embedded `workup serve` / `workup scheduler` process runs, and stops.

Prefect starts a temporary API server by itself (`SubprocessASGIServer`) the first time a flow runs
without PREFECT_API_URL. That server is stopped only by an `atexit` hook: a SIGTERM, a SIGKILL or
a crash of our process left it running, reparented to PID 1, and Prefect keys it by port, so one
process could start two. Instead, the process starts this child itself before any flow runs and
points PREFECT_API_URL at it, so Prefect never starts its own:

- one `prefect server start` on a free loopback port, in its own process group (a Ctrl-C in the
  terminal reaches only us; we stop the scheduler first, then the server), with
  PR_SET_PDEATHSIG so the kernel SIGKILLs it when we die, however we die;
- `stop()` sends SIGTERM to its group, then SIGKILL after a grace.

PDEATHSIG fires when the *thread* that started the child ends, so start it from the main thread.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tracking.cases.errors import PrefectUnavailable

START_TIMEOUT_SECONDS = 120.0  # the first start migrates Prefect's store; about 10 s on an idle machine
STOP_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with(parent: int, libc: ctypes.CDLL):
    """preexec_fn: own process group, SIGKILL when the parent dies (and at once if it already has)."""

    def preexec() -> None:
        os.setpgid(0, 0)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(126)

    return preexec


class PrefectChild:
    """A `prefect server start` child process; use `PrefectChild.start(home)`."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path):
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @classmethod
    def start(cls, prefect_home: Path, *, timeout: float = START_TIMEOUT_SECONDS) -> PrefectChild:
        """Start the server with PREFECT_HOME=`prefect_home` and wait until /api/health answers."""
        prefect_home.mkdir(parents=True, exist_ok=True)
        log_path = prefect_home / "server.log"
        port = _free_port()
        env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        env["PREFECT_HOME"] = str(prefect_home)
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.setdefault("PREFECT_SERVER_UI_ENABLED", "false")
        env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        libc = ctypes.CDLL(None, use_errno=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with(os.getpid(), libc), close_fds=True,
            )  # fmt: skip
        child = cls(process, port, log_path)
        atexit.register(child.stop)  # a normal exit that skipped `stop()`; PDEATHSIG covers the rest
        try:
            child._wait_healthy(timeout)
        except BaseException:  # a timeout, or a signal while we wait: leave nothing behind
            child.stop()
            raise
        return child

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise PrefectUnavailable(
                        f"the local Prefect server exited ({self.process.returncode}); see {self.log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise PrefectUnavailable(
                        f"the local Prefect server did not answer within {timeout:.0f} s; see {self.log_path}"
                    )
                time.sleep(0.1)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace` seconds; reaps it. Idempotent."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
