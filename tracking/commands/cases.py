"""`workup case`: open a case and show one."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from tracking.cases.errors import InvalidInput
from tracking.cases.opening import CaseOpening, open_case
from tracking.cases.queries import CaseHistory, case_history
from tracking.cases.state import jsonable
from tracking.cases.windows import due_text, step_json
from tracking.commands.common import actor, console, now_or, print_json, table, words
from tracking.db import session_scope

app = typer.Typer(help="Cases: open one, show one.", no_args_is_help=True)


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None
    except RecursionError:
        raise InvalidInput(f"{path} nests too deeply") from None


def facility_ref(text: str) -> dict[str, str]:
    """`NAME` for a known facility, or `NAME=CHANNEL:CONTACT` to add one."""
    name, _, rest = text.partition("=")
    if not rest:
        return {"name": name.strip()}
    channel, _, contact = rest.partition(":")
    if not contact:
        raise InvalidInput(f"--facility {text!r}: write NAME=CHANNEL:CONTACT, e.g. 'Northside=email:films@x.org'")
    return {"name": name.strip(), "channel": channel.strip(), "contact": contact.strip()}


@app.command("open")
def open_(
    file: Path | None = typer.Option(None, "--file", help="JSON file with the case (instead of flags)"),
    mrn: str | None = typer.Option(None, help="Medical record number"),
    given_name: str | None = typer.Option(None, "--given-name"),
    family_name: str | None = typer.Option(None, "--family-name"),
    birth_date: str | None = typer.Option(None, "--birth-date", help="YYYY-MM-DD"),
    laterality: str | None = typer.Option(None, help="left, right or bilateral"),
    density: str | None = typer.Option(None, help="BI-RADS density a, b, c or d"),
    birads: str = typer.Option("0", help="Initial BI-RADS assessment"),
    finding_type: str = typer.Option("calcifications", "--finding-type"),
    facility: list[str] = typer.Option([], "--facility", help="Outside facility holding priors (repeatable)"),
    occurred_at: str | None = typer.Option(
        None, "--occurred-at", help="When the exam was (ISO 8601 with a zone); due dates count from it. Default now"
    ),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key", help="1 to 200 characters"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Open a case: the pathway's immediate steps are created at once."""
    if file is not None:
        raw = read_json_file(file)
        if not isinstance(raw, dict):
            raise InvalidInput(f"{file} must hold a JSON object")
        if occurred_at is not None and "occurred_at" in raw:
            raise InvalidInput(f"give occurred_at in {file} or --occurred-at, not both")
    else:
        raw = {
            "mrn": mrn,
            "given_name": given_name,
            "family_name": family_name,
            "birth_date": birth_date,
            "laterality": laterality,
            "density": density,
            "birads": birads,
            "finding_type": finding_type,
            "facilities": [facility_ref(item) for item in facility],
        }
        raw = {key: value for key, value in raw.items() if value is not None}
    if occurred_at is not None:
        raw["occurred_at"] = occurred_at
    opening = CaseOpening.model_validate(raw)
    now = now_or(None)
    with session_scope() as session:
        opened = open_case(session, opening, actor=actor(), now=now, idempotency_key=idempotency_key)
        history = case_history(session, opened.case_id, actor=actor(), now=now)
    if as_json:
        print_json(
            {
                "case_id": opened.case_id,
                "event_id": opened.event_id,
                "replayed": opened.replayed,
                **case_json(history),
            }
        )
        return
    verb = "already opened (same idempotency key)" if opened.replayed else "opened"
    console.print(f"Case {opened.case_id} {verb}.")
    show_case(history)


@app.command()
def show(
    case_id: int = typer.Argument(..., min=1, max=2**31 - 1), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show a case: patient, steps, prior films, alerts and every event."""
    now = now_or(None)
    with session_scope() as session:
        history = case_history(session, case_id, actor=actor(), now=now)
    if as_json:
        print_json(case_json(history))
    else:
        show_case(history)


def case_json(history: CaseHistory) -> dict[str, Any]:
    case, patient = history.case, history.patient
    return jsonable(
        {
            "case": case.model_dump(),
            "patient": {
                "mrn": patient.mrn,
                "name": f"{patient.family_name}, {patient.given_name}",
                "birth_date": patient.birth_date,
            },
            "steps": [step_json(step) for step in history.steps],
            "prior_film_requests": [
                {**request.model_dump(), "facility": facility.name} for request, facility in history.prior_film_requests
            ],
            "alerts": [alert.model_dump() for alert in history.alerts],
            "events": [event.model_dump() for event in history.events],
        }
    )


def show_case(history: CaseHistory) -> None:
    case, patient = history.case, history.patient
    age = (date.today() - patient.birth_date).days // 365
    console.print(
        f"[bold]Case {case.id}[/] {patient.family_name}, {patient.given_name} (MRN {patient.mrn}, {age} y) - "
        f"{words(case.finding_type)}, {case.laterality} breast, density {case.density}, BI-RADS {case.birads}, "
        f"[bold]{words(case.status)}[/]{' - ' + words(case.disposition) if case.disposition else ''} "
        f"- pathway {case.pathway_name} v{case.pathway_version}, version {case.version}"
    )
    steps = table("Steps", ["Step", "Kind", "Side", "Status", "Due", "Scheduled", "Done"])
    for step in history.steps:
        steps.add_row(
            str(step.id),
            words(step.kind),
            step.laterality or "",
            words(step.status),
            due_text(step),
            f"{step.scheduled_at:%Y-%m-%d}" if step.scheduled_at else "",
            f"{step.completed_at:%Y-%m-%d}" if step.completed_at else "",
        )
    console.print(steps)
    if history.prior_film_requests:
        priors = table("Prior films", ["Facility", "Status", "Requested", "Chases", "Comparison / reason"])
        for request, facility in history.prior_film_requests:
            priors.add_row(
                facility.name,
                request.status,
                f"{request.requested_at:%Y-%m-%d}",
                str(request.chase_count),
                request.comparison or request.unobtainable_reason or "",
            )
        console.print(priors)
    events = table("Events", ["When", "Event", "By", "Warnings"])
    for event in history.events:
        events.add_row(
            f"{event.occurred_at:%Y-%m-%d %H:%M}",
            words(event.kind),
            event.actor,
            "\n".join(event.outcome.get("warnings", [])),
        )
    console.print(events)
