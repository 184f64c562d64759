"""Sign-in idle timeout and a history that refuses TRUNCATE.

Reviewed by hand.
- user_sessions.last_seen_at: the moment a session was last used, for the idle timeout (existing
  sessions start from their creation).
- case_events and audit_log refuse TRUNCATE as they refuse UPDATE and DELETE: a statement-level
  trigger with the same function. (A superuser can still switch triggers off; the guard is
  against accidents and ordinary roles.)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("case_events", "audit_log")


def upgrade() -> None:
    op.add_column("user_sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE user_sessions SET last_seen_at = created_at")
    op.alter_column("user_sessions", "last_seen_at", nullable=False)
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_history()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_column("user_sessions", "last_seen_at")
