"""Is any work due? One cheap query a lane of the worker asks before it starts a flow run.

Each reads pending rows only, through the partial indexes on them, so an idle worker costs the
database next to nothing and creates no flow run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

# Per table: the earliest pending row's due time, and how many things are due now (at most :most).
# A case's run requests are claimed together, so case runs count cases.
LOOKS = {
    "case_runs": text(
        """
        SELECT (SELECT min(next_attempt_at) FROM case_runs WHERE status = 'pending'),
               (SELECT count(*) FROM (SELECT DISTINCT case_id FROM case_runs
                                      WHERE status = 'pending' AND next_attempt_at <= :now LIMIT :most) due)
        """
    ),
    "notifications": text(
        """
        SELECT (SELECT min(next_attempt_at) FROM notifications WHERE status = 'pending'),
               (SELECT count(*) FROM (SELECT 1 FROM notifications
                                      WHERE status = 'pending' AND next_attempt_at <= :now LIMIT :most) due)
        """
    ),
}


@dataclass(frozen=True)
class Due:
    now: int  # things due now (cases for case runs, rows for notifications), at most the `most` asked for
    next_in: float | None  # seconds until the earliest pending row is due (0 or less: now); None: nothing pending


def look(connection: Connection, table: str, now: datetime, most: int = 1) -> Due:
    """What is due in `table` (a key of LOOKS) as of `now`."""
    earliest, due = connection.execute(LOOKS[table], {"now": now, "most": most}).one()
    return Due(now=due, next_in=None if earliest is None else (earliest - now).total_seconds())
