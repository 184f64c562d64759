"""How a list of due steps is shown: colour plus words, overdue first."""

from __future__ import annotations

from tracking.cases.queries import StepDue
from tracking.cases.windows import WINDOW_FIELDS, due_text
from tracking.commands.common import console, print_csv, print_json, table, words
from tracking.screening.queries import ScreeningDue

STEP_COLUMNS = [
    "case_id",
    "step_id",
    "step",
    "laterality",
    "due_at",
    *WINDOW_FIELDS,
    "days_overdue",
    "alert_level",
    "case_status",
    "birads",
    "mrn",
    "patient",
]


def when_text(row: StepDue | ScreeningDue) -> str:
    if row.is_overdue:
        days = row.days_overdue
        late = "under a day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"
        return f"[bold red]OVERDUE {late}[/]"
    days = (row.due_at - row.now).days
    return f"[yellow]due in {days} day{'s' if days != 1 else ''}[/]" if days < 7 else f"due in {days} days"


def show_steps(rows: list[StepDue], *, title: str, output: str) -> None:
    if output == "json":
        print_json([row.as_dict() for row in rows])
        return
    if output == "csv":
        print_csv((row.as_dict() for row in rows), STEP_COLUMNS)
        return
    if not rows:
        console.print(f"{title}: nothing to show.")
        return
    grid = table(title, ["Case", "Patient", "MRN", "Step", "Side", "Due", "Status", "Alert"])
    for row in rows:
        grid.add_row(
            str(row.case_id),
            row.patient_name,
            row.mrn,
            words(row.kind),
            row.laterality or "",
            due_text(row),
            when_text(row) + (f"\nbooked {row.scheduled_at:%Y-%m-%d}" if row.scheduled_at else ""),
            f"level {row.alert_level}" if row.alert_level else "",
        )
    console.print(grid)
