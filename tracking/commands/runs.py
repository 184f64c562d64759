"""`workup runs`: the case run requests, and putting failed ones back in the queue."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from tracking.commands.common import actor, console, listing_group, one_status, print_json, table, words
from tracking.db import session_scope
from tracking.pathway.vocabulary import CaseRunStatus
from tracking.runs.service import list_case_runs, retry_case_runs

app = listing_group("Case run requests: list failed or waiting ones, retry failed ones.")


@app.callback()
def runs(
    context: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only requests that failed (gave up after 5 failures)"),
    pending: bool = typer.Option(False, "--pending", help="Only requests still waiting to run"),
    case_id: int | None = typer.Option(None, "--case", min=1, max=2**31 - 1, help="Only this case"),
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(200, "--limit", min=1, max=10_000),
) -> None:
    """List case run requests (newest first; waiting and failed ones oldest first)."""
    if context.invoked_subcommand is not None:
        return
    one_status(failed, pending)
    status = CaseRunStatus.failed if failed else CaseRunStatus.pending if pending else None
    with session_scope() as session:
        rows = [row.as_dict() for row in list_case_runs(session, status=status, case_id=case_id, limit=limit)]
    if as_json:
        print_json(rows)
        return
    title = "Run requests" + (f" ({words(status)})" if status else "")
    grid = table(title, ["Run", "Case", "Reason", "Status", "Requested", "Tries", "Failures", "Next try", "Last error"])
    for row in rows:
        grid.add_row(
            str(row["run_id"]), str(row["case_id"]), words(row["reason"]), row["status"], row["requested_at"][:16],
            str(row["attempts"]), str(row["failures"]), (row["next_attempt_at"] or "")[:16], row["last_error"] or "",
        )  # fmt: skip
    console.print(grid if rows else "No run requests.")


@app.command("retry")
def retry(
    run_id: int | None = typer.Argument(None, min=1, max=2**31 - 1, help="The failed run request to retry"),
    all_failed: bool = typer.Option(False, "--all-failed", help="Retry every failed run request"),
) -> None:
    """Put a failed run request (or all of them) back in the queue; the next runner pass takes it."""
    with session_scope() as session:
        ids = retry_case_runs(session, actor=actor(), now=datetime.now(UTC), run_id=run_id, all_failed=all_failed)
    console.print(f"{len(ids)} run request(s) back in the queue" + (f": {', '.join(map(str, ids))}" if ids else "."))
