"""Generate a realistic synthetic population with COPY: open cases in every branch, at every age.

    python -m bench.generate --cases 100000 [--database-url URL] [--seed 1]

Defaults: 100k open cases and about 1M steps (history included), about 5% of steps overdue,
outside facilities and pending prior-film requests. Names are synthetic. The target database
must be migrated (`workup db upgrade`) and is expected to be empty.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy.engine import make_url

# Each branch: the steps a case in it has, as (kind, state). "done" steps are history; "open"
# steps are what the case waits on. Weights follow the pathway's population: most cases wait
# in BI-RADS 3 surveillance; fewer are at biopsy or surgery.
BRANCHES: dict[str, tuple[float, list[tuple[str, str]]]] = {
    "new_workup": (
        0.10,
        [
            ("magnification_views", "open"),
            ("ultrasound", "open"),
            ("prior_film_request", "open"),
            ("prior_film_request", "open"),
            ("final_assessment", "open"),
            ("annual_screening", "open"),
            ("result_letter", "done"),
            ("magnification_views", "cancelled"),
            ("ultrasound", "done"),
            ("final_assessment", "done"),
        ],
    ),
    "awaiting_biopsy": (
        0.10,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("stereotactic_biopsy", "open"),
            ("annual_screening", "open"),
            ("prior_film_request", "open"),
            ("result_letter", "open"),
            ("ultrasound", "cancelled"),
        ],
    ),
    "open_surgical": (
        0.03,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("stereotactic_biopsy", "cancelled"),
            ("open_surgical_biopsy", "open"),
            ("annual_screening", "open"),
            ("prior_film_request", "done"),
            ("result_letter", "done"),
        ],
    ),
    "concordance": (
        0.07,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("stereotactic_biopsy", "done"),
            ("rad_path_concordance", "open"),
            ("annual_screening", "open"),
            ("prior_film_request", "done"),
            ("result_letter", "done"),
        ],
    ),
    "surgery": (
        0.05,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("stereotactic_biopsy", "done"),
            ("rad_path_concordance", "done"),
            ("surgical_consultation", "open"),
            ("annual_screening", "open"),
            ("result_letter", "done"),
        ],
    ),
    "surveillance_6": (
        0.30,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("followup_6_month", "open"),
            ("annual_screening", "open"),
            ("prior_film_request", "done"),
            ("ultrasound", "cancelled"),
            ("result_letter", "done"),
        ],
    ),
    "surveillance_12": (
        0.20,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("followup_6_month", "done"),
            ("result_letter", "done"),
            ("followup_12_month", "open"),
            ("annual_screening", "done"),
            ("prior_film_request", "done"),
        ],
    ),
    "surveillance_24": (
        0.12,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("followup_6_month", "done"),
            ("followup_12_month", "done"),
            ("result_letter", "done"),
            ("followup_24_month", "open"),
            ("annual_screening", "done"),
        ],
    ),
    "missed_visit": (
        0.03,
        [
            ("magnification_views", "done"),
            ("ultrasound", "done"),
            ("prior_film_request", "done"),
            ("final_assessment", "done"),
            ("result_letter", "done"),
            ("followup_6_month", "open"),
            ("patient_contact", "open"),
            ("annual_screening", "open"),
            ("result_letter", "done"),
            ("prior_film_request", "done"),
        ],
    ),
}
# How far a branch's case has come, in days since opening.
AGES = {
    "new_workup": (0, 40), "awaiting_biopsy": (8, 45), "open_surgical": (10, 60), "concordance": (12, 60),
    "surgery": (15, 90), "surveillance_6": (10, 240), "surveillance_12": (190, 420),
    "surveillance_24": (370, 800), "missed_visit": (200, 260),
}  # fmt: skip
LATERALITY = ("left", "right", "bilateral")
DENSITY = ("a", "b", "c", "d")


@dataclass
class Generated:
    cases: int
    steps: int
    open_steps: int
    overdue_steps: int
    prior_film_requests: int
    seconds: float


# What the triggers on steps keep (migration 0009), for a load that bypassed them.
NEXT_STEP_DUE = (
    "UPDATE cases c SET next_step_due_at = n.due FROM (SELECT case_id, min(due_at) AS due FROM steps "
    "WHERE status IN ('pending', 'scheduled') GROUP BY case_id) n WHERE n.case_id = c.id"
)


def _copy(cursor: psycopg.Cursor, table: str, columns: str, rows: io.StringIO) -> None:
    rows.seek(0)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def _line(*values: object) -> str:
    return "\t".join("\\N" if value is None else str(value) for value in values) + "\n"


def generate(
    url: str, cases: int = 100_000, *, seed: int = 1, now: datetime | None = None, overdue_share: float = 0.05
) -> Generated:
    """Load the population with COPY in one transaction; returns what was loaded and how long it took."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    names = list(BRANCHES)
    weights = [BRANCHES[name][0] for name in names]
    patients, case_rows, events, steps, priors = (io.StringIO() for _ in range(5))
    facilities = io.StringIO()
    facility_count = 50
    for number in range(1, facility_count + 1):
        channel = ("email", "webhook", "fax")[number % 3]
        contact = f"films{number}@facility.example" if channel == "email" else f"https://f{number}.example/priors"
        facilities.write(_line(number, f"Synthetic Facility {number}", channel, contact, now.isoformat()))
    open_total = 0
    # share of open steps that must be overdue so that overdue steps are `overdue_share` of all steps
    open_per_case = sum(
        weight * sum(state == "open" for _, state in BRANCHES[name][1])
        for name, weight in zip(names, weights, strict=True)
    )
    overdue_chance = min(1.0, overdue_share * 10 / open_per_case)
    step_id = overdue = prior_id = 0
    for case_id in range(1, cases + 1):
        branch = rng.choices(names, weights)[0]
        low, high = AGES[branch]
        opened = now - timedelta(days=rng.uniform(low, high))
        laterality, density = rng.choice(LATERALITY), rng.choice(DENSITY)
        patients.write(
            _line(
                case_id,
                f"BENCH-{case_id:07d}",
                "Synthetic",
                f"Patient{case_id}",
                date(1940, 1, 1) + timedelta(days=rng.randrange(0, 25000)),
                now.isoformat(),
            )
        )
        case_rows.write(
            _line(
                case_id,
                case_id,
                "calcifications",
                laterality,
                density,
                "0",
                "calcifications",
                1,
                "open",
                opened.isoformat(),
                None,
                1,
            )
        )
        events.write(
            _line(
                case_id,
                case_id,
                "case_opened",
                "{}",
                "{}",
                "bench",
                opened.isoformat(),
                opened.isoformat(),
                f"bench-open-{case_id}",
            )
        )
        facility_ids = rng.sample(range(1, facility_count + 1), 2)
        for kind, state in BRANCHES[branch][1]:
            step_id += 1
            facility = facility_ids.pop() if kind == "prior_film_request" and facility_ids else None
            if kind == "prior_film_request" and facility is None:
                kind = "result_letter"  # a case asks each facility once
            side = laterality if kind not in ("prior_film_request", "final_assessment", "result_letter") else None
            if state == "open":
                open_total += 1
                late = rng.random() < overdue_chance
                overdue += late
                due = now - timedelta(days=rng.uniform(0.5, 40)) if late else now + timedelta(days=rng.uniform(1, 200))
                status, completed, result = ("scheduled" if rng.random() < 0.2 else "pending"), None, "{}"
            else:
                due = opened + timedelta(days=rng.uniform(1, 30))
                status = "completed" if state == "done" else "cancelled"
                completed = (due - timedelta(days=1)).isoformat() if state == "done" else None
                result = "{}"
            steps.write(
                _line(
                    step_id,
                    case_id,
                    kind,
                    side,
                    status,
                    due.isoformat(),
                    None,
                    completed,
                    facility,
                    result,
                    case_id,
                    opened.isoformat(),
                )
            )
            if facility is not None:
                prior_id += 1
                received = status == "completed"
                priors.write(
                    _line(
                        prior_id,
                        case_id,
                        facility,
                        step_id,
                        "received" if received else "requested",
                        None,
                        "stable" if received else None,
                        opened.isoformat(),
                        completed if received else None,
                        0,
                        None,
                    )
                )
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as connection:
        with connection.cursor() as cursor:
            # A bulk load: the per-statement triggers that keep cases.next_step_due_at are off (replica
            # role) and the column is computed once below, in one set-based statement.
            cursor.execute("SET LOCAL session_replication_role = replica")
            _copy(cursor, "outside_facilities", "id, name, channel, contact, created_at", facilities)
            _copy(cursor, "patients", "id, mrn, given_name, family_name, birth_date, created_at", patients)
            _copy(
                cursor,
                "cases",
                "id, patient_id, finding_type, laterality, density, birads, pathway_name, "
                "pathway_version, status, opened_at, closed_at, version",
                case_rows,
            )
            _copy(
                cursor,
                "case_events",
                "id, case_id, kind, payload, outcome, actor, occurred_at, recorded_at, idempotency_key",
                events,
            )
            _copy(
                cursor,
                "steps",
                "id, case_id, kind, laterality, status, due_at, scheduled_at, completed_at, "
                "facility_id, result, created_by_event_id, created_at",
                steps,
            )
            _copy(
                cursor,
                "prior_film_requests",
                "id, case_id, facility_id, step_id, status, unobtainable_reason, "
                "comparison, requested_at, received_at, chase_count, last_chased_at",
                priors,
            )
            cursor.execute(NEXT_STEP_DUE)
            for table in ("outside_facilities", "patients", "cases", "case_events", "steps", "prior_film_requests"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
        connection.execute("ANALYZE")
    return Generated(cases, step_id, open_total, overdue, prior_id, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL or the embedded server")
    args = parser.parse_args(argv)
    from tracking.db import database_url

    url = args.database_url or database_url()
    result = generate(url, args.cases, seed=args.seed)
    print(
        f"loaded {result.cases} cases, {result.steps} steps ({result.open_steps} open, {result.overdue_steps} "
        f"overdue), {result.prior_film_requests} prior-film requests in {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
