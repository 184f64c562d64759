"""A real `prefect server start` for tests, with its history on a fresh PostgreSQL database.

    with running_prefect_server(tmp_path, server_url) as prefect:
        prefect.api_url            # http://127.0.0.1:<free port>/api
        prefect.client_env()       # PREFECT_API_URL (+ PREFECT_API_AUTH_STRING) for a client subprocess
        prefect.stop()             # the API goes away (process group SIGTERM, then SIGKILL)
        prefect.start()            # back on the same port and the same database

The server runs in its own session (process group) with PREFECT_HOME under tmp_path and its cwd
there (so no `.env` of a checkout is read); stop() ends that whole group, and leaving the `with`
block stops it and drops its database whatever happened inside. Its output goes to
tmp_path/prefect-server.log, quoted when it fails to start.

Prefect's migrations need the pg_trgm extension; on a PostgreSQL without it (the embedded
development server) the history falls back to Prefect's SQLite store under PREFECT_HOME.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import create_database, drop_database

START_SECONDS = 120  # a cold start migrates Prefect's schema first
STOP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prefect_executable() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def has_pg_trgm(server_url: str) -> bool:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, connect_timeout=5) as connection:
        return connection.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone() is not None


@dataclass
class PrefectServer:
    """One Prefect server: a port, a PREFECT_HOME and a database that outlive stop()/start()."""

    home: Path
    port: int
    database_url: str | None  # postgresql+asyncpg://..., or None for Prefect's SQLite under home
    auth_string: str | None = None
    log_path: Path = field(init=False)
    process: subprocess.Popen | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home.parent / "prefect-server.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def client_env(self) -> dict[str, str]:
        """What a client process needs to talk to this server."""
        env = {"PREFECT_API_URL": self.api_url}
        if self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        return env

    def server_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_SERVER_API_HOST="127.0.0.1",
            PREFECT_SERVER_API_PORT=str(self.port),
        )
        if self.database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        if self.auth_string:
            env["PREFECT_SERVER_API_AUTH_STRING"] = self.auth_string
        return env

    def log_tail(self, characters: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = START_SECONDS) -> str:
        """Start the server and wait until /api/health answers; returns the API URL."""
        assert self.process is None or self.process.poll() is not None, "the Prefect server is already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [prefect_executable(), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.home,
                env=self.server_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                code = self.process.returncode
                self._kill_group()
                raise RuntimeError(f"prefect server start exited ({code}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Prefect server did not answer within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self.api_url

    def _kill_group(self) -> None:
        if self.process is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this server leads (its own session)

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL what is left after STOP_SECONDS."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_SECONDS)
        self._kill_group()  # children that outlived the leader, or a leader that ignored SIGTERM
        self.process.wait(timeout=10)
        deadline = time.monotonic() + STOP_SECONDS
        while self.healthy() and time.monotonic() < deadline:  # the port is really free again
            time.sleep(0.1)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextmanager
def running_prefect_server(
    tmp_path: Path, server_url: str, *, auth_string: str | None = None
) -> Iterator[PrefectServer]:
    """A started Prefect server (see the module docstring); stopped and its database dropped on exit."""
    database = None
    if has_pg_trgm(server_url):
        database = create_database(server_url, prefix="prefect_test")
    asyncpg_url = (
        make_url(database).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        if database
        else None
    )
    server = PrefectServer(home=tmp_path / "prefect-home", port=free_port(), database_url=asyncpg_url,
                           auth_string=auth_string)  # fmt: skip
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            if database:
                drop_database(server_url, database)
