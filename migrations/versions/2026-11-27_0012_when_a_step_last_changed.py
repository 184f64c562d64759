"""When a step last changed: `steps.updated_at`, for FHIR's Task.lastModified and `_lastUpdated`.

Reviewed by hand.
- A step changes when it is created, booked, unbooked (a missed appointment), completed, cancelled
  or handed off, always by an event (tracking/cases/state.py apply_decision), which now writes the
  event's `recorded_at` here. Completion, cancellation and hand-off already name their event in
  `result.event_id`, but a booking or an unbooking leaves no moment on the step, so the time cannot
  be derived from what exists: it needs a column. `now()` by default, for bulk loads (bench/).
  Assigning a case to another navigator touches its steps too: their Tasks name the navigator as owner.
- Backfilled from the best evidence: the latest of the recording moment of the event that created
  the step, of the event named in its result, and, for a step still open, of the case's later
  bookings and missed appointments (`appointment_booked`, `biopsy_scheduled`, `appointment_missed`).
- `ix_steps_updated_at`: `GET /fhir/Task?_lastUpdated=ge...` (a client syncing changes) is a range
  scan, not a pass over every step.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE steps s SET updated_at = coalesce(greatest(
    (SELECT e.recorded_at FROM case_events e WHERE e.id = s.created_by_event_id),
    (SELECT e.recorded_at FROM case_events e
      WHERE jsonb_typeof(s.result -> 'event_id') = 'number' AND e.id = (s.result ->> 'event_id')::bigint),
    (SELECT max(e.recorded_at) FROM case_events e
      WHERE s.status IN ('pending', 'scheduled') AND e.case_id = s.case_id AND e.id > s.created_by_event_id
        AND e.kind IN ('appointment_booked', 'biopsy_scheduled', 'appointment_missed'))
), s.created_at)
"""


def upgrade() -> None:
    op.add_column(
        "steps",
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.execute(BACKFILL)
    op.create_index(op.f("ix_steps_updated_at"), "steps", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_steps_updated_at"), table_name="steps")
    op.drop_column("steps", "updated_at")
