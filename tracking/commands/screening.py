"""`workup screening`: the recall list of routine screening handed off when a case closed.

Case and step ids only, never patient names or MRNs: the page (/screening) names the patients.
"""

from __future__ import annotations

import typer

from tracking.cases.windows import due_text
from tracking.commands.common import ALLOW_FUTURE_HELP, actor, console, now_or, print_json, table, words
from tracking.commands.steps_view import when_text
from tracking.db import session_scope
from tracking.screening.queries import MAX_DUE_WITHIN_DAYS, RecallFilters, screening_recall


def screening(
    overdue: bool = typer.Option(False, "--overdue", help="Only screening past its due date"),
    due_within: int | None = typer.Option(
        None, "--due-within", min=0, max=MAX_DUE_WITHIN_DAYS, help="Only screening due within DAYS (overdue included)"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    now: str | None = typer.Option(None, "--now", help="As of this ISO moment"),
    allow_future: bool = typer.Option(False, "--allow-future", help=ALLOW_FUTURE_HELP),
) -> None:
    """The screening recall list: handed-off annual screening of closed cases, earliest due first."""
    filters = RecallFilters(overdue_only=overdue, due_within_days=due_within)
    filters.check()  # before the transaction: a refused listing writes nothing
    moment = now_or(now, allow_future=allow_future)
    with session_scope() as session:
        rows, _ = screening_recall(session, moment, actor=actor(), filters=filters, limit=None)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    if not rows:
        console.print("Screening recall list: nothing to show.")
        return
    grid = table(f"Screening recall list ({moment:%Y-%m-%d %H:%M} UTC)",
                 ["Case", "Step", "What", "Side", "Due", "Status", "Alert"])  # fmt: skip
    for row in rows:
        grid.add_row(
            str(row.case_id), str(row.step_id), words(row.kind), row.laterality or "", due_text(row), when_text(row),
            f"level {row.alert_level}" if row.alert_level else "",
        )  # fmt: skip
    console.print(grid)
