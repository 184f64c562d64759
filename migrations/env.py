"""Alembic environment: runs against DATABASE_URL, the embedded server, or a URL the caller passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from tracking.db import database_url
from tracking.schema import metadata

config = context.config


# Expression indexes written by hand in revisions (the models cannot declare them); see 0007 and 0017
# (the trigram index exists only where pg_trgm could be created).
HAND_WRITTEN_INDEXES = {
    "ix_audit_log_case_ids",
    "ix_cases_worklist_overdue",
    "ix_cases_worklist_suspicious",
    "ix_cases_worklist_next_due",
    "ix_patients_mrn_prefix",
    "ix_patients_name_trigram",
}


def include_object(obj, name, type_, reflected, compare_to):
    # Views are created by hand in revisions; autogenerate must not try to drop them.
    if type_ == "index" and reflected and compare_to is None and name in HAND_WRITTEN_INDEXES:
        return False
    return not (type_ == "table" and reflected and compare_to is None and name in config.attributes.get("views", ()))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or database_url()
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=False,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run against a database")
run_migrations_online()
