"""The worker's LISTEN connection: wait for a wake-up, or for a stop, without spending CPU.

A connection of its own (psycopg, autocommit) with a connect timeout and TCP keepalives, like the
scheduler's lock connection, so a dead server or a lost network shows as an error within seconds.
Waiting is one select() on the connection's socket and a pipe: `interrupt()` (from another thread
or a signal handler) ends a wait at once. Notifications that arrive while the connection runs a
query are kept by psycopg and returned by the next wait.
"""

from __future__ import annotations

import contextlib
import os
import select

import psycopg
from sqlalchemy.engine import make_url

from tracking.scheduler import LOCK_CONNECT_ARGS

CHANNEL = "workup_work"  # migration 0016: the payload is the table a row went into
CONNECT_ARGS = {**LOCK_CONNECT_ARGS, "application_name": "workup worker"}


def conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (postgresql+psycopg://...)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeUps:
    def __init__(self, url: str) -> None:
        self._conninfo = conninfo(url)
        self.connection: psycopg.Connection | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.closed

    def connect(self) -> None:
        """Connect and LISTEN; raises psycopg.OperationalError while the database is away."""
        self.close()
        connection = psycopg.connect(self._conninfo, autocommit=True, **CONNECT_ARGS)
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            connection.close()
            raise
        self.connection = connection

    def wait(self, timeout: float) -> set[str]:
        """The payloads (table names) of the notifications received within `timeout` seconds.

        Returns early, possibly empty, on interrupt(). Raises psycopg.OperationalError when the
        connection is lost.
        """
        connection = self.connection
        woken = self._drain(connection)
        if woken:
            return woken
        readable, _, _ = select.select([connection.fileno(), self._read], [], [], max(0.0, timeout))
        if self._read in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 512):
                    pass
        return self._drain(connection) if connection.fileno() in readable else set()

    def pause(self, seconds: float) -> None:
        """Sleep up to `seconds` (no connection needed); interrupt() ends it early."""
        readable, _, _ = select.select([self._read], [], [], max(0.0, seconds))
        if readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 512):
                    pass

    def interrupt(self) -> None:
        """End the current wait or pause (safe from any thread and from a signal handler)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write, b"!")

    @staticmethod
    def _drain(connection: psycopg.Connection) -> set[str]:
        return {notify.payload for notify in connection.notifies(timeout=0)}

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None

    def dispose(self) -> None:
        self.close()
        for descriptor in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(descriptor)
