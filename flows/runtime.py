"""Where Prefect keeps its own state, and the clock flows run on."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy.engine import make_url


def flow_now(now: datetime | str | None) -> datetime:
    """The injected clock, or the current time."""
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def prefect_database_url(workup_url: str, database: str = "prefect") -> str:
    """Prefect's own database on the same PostgreSQL server (asyncpg driver)."""
    return make_url(workup_url).set(drivername="postgresql+asyncpg", database=database).render_as_string(False)


def use_local_prefect_on_postgres(workup_url: str, home: str) -> None:
    """Embedded mode: unless PREFECT_API_URL points at a Prefect server, Prefect's temporary
    server keeps flow runs in a `prefect` database on our PostgreSQL (never SQLite)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    import psycopg

    admin = make_url(workup_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = 'prefect'").fetchone()
        if not exists:
            connection.execute("CREATE DATABASE prefect")
    os.environ.setdefault("PREFECT_HOME", os.path.join(home, "prefect"))
    os.environ.setdefault("PREFECT_API_DATABASE_CONNECTION_URL", prefect_database_url(workup_url))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
