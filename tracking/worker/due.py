"""Is any work due? One cheap query the worker asks before it starts a flow run.

Both reads go through partial indexes on pending rows, so an idle worker costs the database
next to nothing, and creates no flow run when nothing is due.
"""

from __future__ import annotations

from datetime import datetime

NEXT_DUE = """
SELECT (SELECT min(next_attempt_at) FROM case_runs WHERE status = 'pending'),
       (SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending')
"""
TABLES = ("case_runs", "notifications")


def seconds_until_due(connection, now: datetime) -> dict[str, float | None]:
    """Per table, seconds from `now` until its earliest pending row is due (0 or less: due now),
    or None when nothing is pending. `connection` is a psycopg connection (autocommit)."""
    row = connection.execute(NEXT_DUE).fetchone()
    return {
        table: None if moment is None else (moment - now).total_seconds()
        for table, moment in zip(TABLES, row, strict=True)
    }
