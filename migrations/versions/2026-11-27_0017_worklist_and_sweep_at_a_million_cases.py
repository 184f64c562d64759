"""The worklist and the sweep at 1M open cases: indexes that read the worklist's order and a search (issue 14).

Reviewed by hand.
- The patient worklist reads its order bucket by bucket (tracking/cases/patient_worklist.py), each
  through a partial index on open and lost cases: by the earliest overdue step's due time, then the
  next due time, then the id, for all cases (ix_cases_worklist_overdue) and for BI-RADS 4A-5 alone
  (ix_cases_worklist_suspicious); by the next due time of step or task (ix_cases_worklist_next_due);
  by the next task's due time (ix_cases_worklist_task_due); and the cases with nothing due
  (ix_cases_worklist_nothing_due). The first three are on expressions: written here, listed in
  migrations/env.py HAND_WRITTEN_INDEXES.
- Search: the start of the MRN (ix_patients_mrn_prefix, text_pattern_ops, so starts_with() can use
  it in any collation); a part of the name through a trigram index, when the pg_trgm extension is
  available and may be created (it is in PostgreSQL's contrib, absent from the embedded server): the
  query is the same without it, only slower at a large population. The downgrade drops the index and
  leaves the extension (another schema object may use it).
- The worklist's step filter: open steps by kind (ix_steps_open_kind).
- Two reads scanned every unresolved alert (500k overdue alerts at 1M cases): the sweep's unsent-letter
  check (140 ms a sweep) and the worklist page's panels of stuck work and stalled cases (120 ms a
  view). The unresolved `letter_unsent` alerts, and the unresolved alerts about a case (every kind
  but `overdue_step`) by age, get their own small indexes.

Each CREATE INDEX locks its table against writes while it builds (a few seconds at 1M cases).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('open', 'lost_to_follow_up')"
NEXT_DUE = "least(next_step_due_at, next_task_due_at)"
EXPRESSION_INDEXES = {
    "ix_cases_worklist_overdue": f"cases (next_step_due_at, ({NEXT_DUE}), id) WHERE {OPEN}",
    "ix_cases_worklist_suspicious": (
        f"cases (next_step_due_at, ({NEXT_DUE}), id) WHERE {OPEN} AND birads IN ('4A', '4B', '4C', '5')"
    ),
    "ix_cases_worklist_next_due": f"cases (({NEXT_DUE}), id) WHERE {OPEN}",
    "ix_patients_mrn_prefix": "patients ((upper(mrn)) text_pattern_ops)",
}
TRIGRAM = "ix_patients_name_trigram"
CAN_TRIGRAM = """
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
        OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
            AND has_database_privilege(current_database(), 'CREATE'))
"""
PLAIN_INDEXES = [
    ("ix_cases_worklist_task_due", "cases", ["next_task_due_at"], f"{OPEN} AND next_task_due_at IS NOT NULL"),
    (
        "ix_cases_worklist_nothing_due",
        "cases",
        ["id"],
        f"{OPEN} AND next_step_due_at IS NULL AND next_task_due_at IS NULL",
    ),
    ("ix_steps_open_kind", "steps", ["kind", "case_id"], "status IN ('pending', 'scheduled')"),
    ("ix_alerts_letter_unsent", "alerts", ["letter_id"], "kind = 'letter_unsent' AND status <> 'resolved'"),
    (
        "ix_alerts_unresolved_case_alerts",
        "alerts",
        ["raised_at", "id"],
        "status <> 'resolved' AND kind <> 'overdue_step'",
    ),
]


def upgrade() -> None:
    for name, definition in EXPRESSION_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")
    for name, table, columns, where in PLAIN_INDEXES:
        op.create_index(name, table, columns, unique=False, postgresql_where=sa.text(where))
    if op.get_bind().execute(sa.text(CAN_TRIGRAM)).scalar_one():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"CREATE INDEX {TRIGRAM} ON patients USING gin (lower(family_name || ', ' || given_name) gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {TRIGRAM}")
    for name, table, _, where in reversed(PLAIN_INDEXES):
        op.drop_index(name, table_name=table, postgresql_where=sa.text(where))
    for name in reversed(EXPRESSION_INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
