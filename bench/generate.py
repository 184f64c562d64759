"""Generate a realistic synthetic population with COPY: open cases in every branch, at every age.

    python -m bench.generate --cases 100000 [--database-url URL] [--seed 1]

Defaults: 100k open cases and about 1M steps (history included), about 5% of steps overdue,
outside facilities and pending prior-film requests. Names are synthetic. The target database
must be migrated (`workup db upgrade`) and is expected to be empty.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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
    seconds: float  # the whole load: rows written, COPY, indexes rebuilt, VACUUM ANALYZE
    phases: dict[str, float] = field(default_factory=dict)  # where those seconds went


# The tables loaded, in order, and the columns each COPY fills.
TABLES = {
    "outside_facilities": "id, name, channel, contact, created_at",
    "patients": "id, mrn, given_name, family_name, birth_date, created_at",
    "cases": "id, patient_id, finding_type, laterality, density, birads, pathway_name, pathway_version, status, "
    "opened_at, closed_at, version, next_step_due_at",
    "case_events": "id, case_id, kind, payload, outcome, actor, occurred_at, recorded_at, idempotency_key",
    "steps": "id, case_id, kind, laterality, status, due_at, scheduled_at, completed_at, facility_id, result, "
    "created_by_event_id, created_at",
    "prior_film_requests": "id, case_id, facility_id, step_id, status, unobtainable_reason, comparison, "
    "requested_at, received_at, chase_count, last_chased_at",
}
# The indexes of a table that no constraint uses: dropped before the load and built again after it,
# from their own definition (building an index once is several times cheaper than growing it row by
# row: 1M steps insert in 2.5 s without them, 11 s with them). An index whose definition does not
# read back the same once run again (a partial index on `status IN (...)` of a varchar column is
# printed with casts that parse into another expression tree) stays in place, so the schema ends
# exactly as migrated.
SECONDARY_INDEXES = """
    SELECT CAST(CAST(i.indexrelid AS regclass) AS text), pg_get_indexdef(i.indexrelid) FROM pg_index i
    WHERE i.indrelid = CAST(%s AS regclass)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1
"""
CHUNK_CASES = 25_000  # cases written per chunk; the next chunk is written while this one is copied
NULL = "\\N"  # COPY's text format


@dataclass
class _Counts:
    steps: int = 0
    open_steps: int = 0
    overdue: int = 0
    prior_film_requests: int = 0


def _line(*values: object) -> str:
    return "\t".join(NULL if value is None else str(value) for value in values) + "\n"


def _chunks(rng: random.Random, cases: int, now: datetime, overdue_share: float, counts: _Counts):
    """Yield every table's rows as COPY text, CHUNK_CASES cases at a time ({table: text}).

    The random draws are made in the same order for every case, so a seed gives the same population."""
    names = list(BRANCHES)
    weights = [BRANCHES[name][0] for name in names]
    facility_count = 50
    facilities = []
    for number in range(1, facility_count + 1):
        channel = ("email", "webhook", "fax")[number % 3]
        contact = f"films{number}@facility.example" if channel == "email" else f"https://f{number}.example/priors"
        facilities.append(_line(number, f"Synthetic Facility {number}", channel, contact, now.isoformat()))
    yield {"outside_facilities": "".join(facilities)}
    # share of open steps that must be overdue so that overdue steps are `overdue_share` of all steps
    open_per_case = sum(
        weight * sum(state == "open" for _, state in BRANCHES[name][1])
        for name, weight in zip(names, weights, strict=True)
    )
    overdue_chance = min(1.0, overdue_share * 10 / open_per_case)
    untimed = ("prior_film_request", "final_assessment", "result_letter")
    created = now.isoformat()
    uniform, draw, choices, choice = rng.uniform, rng.random, rng.choices, rng.choice
    step_id = open_total = overdue = prior_id = 0
    for first in range(1, cases + 1, CHUNK_CASES):
        patients: list[str] = []
        case_rows: list[str] = []
        events: list[str] = []
        steps: list[str] = []
        priors: list[str] = []
        for case_id in range(first, min(cases, first + CHUNK_CASES - 1) + 1):
            branch = choices(names, weights)[0]
            low, high = AGES[branch]
            opened_at = now - timedelta(days=uniform(low, high))
            opened = opened_at.isoformat()
            laterality, density = choice(LATERALITY), choice(DENSITY)
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 25000))
            patients.append(f"{case_id}\tBENCH-{case_id:07d}\tSynthetic\tPatient{case_id}\t{born}\t{created}\n")
            events.append(
                f"{case_id}\t{case_id}\tcase_opened\t{{}}\t{{}}\tbench\t{opened}\t{opened}\tbench-open-{case_id}\n"
            )
            facility_ids = rng.sample(range(1, facility_count + 1), 2)
            next_due = None
            for kind, state in BRANCHES[branch][1]:
                step_id += 1
                facility = facility_ids.pop() if kind == "prior_film_request" and facility_ids else None
                if kind == "prior_film_request" and facility is None:
                    kind = "result_letter"  # a case asks each facility once
                side = NULL if kind in untimed else laterality
                if state == "open":
                    open_total += 1
                    late = draw() < overdue_chance
                    overdue += late
                    due = now - timedelta(days=uniform(0.5, 40)) if late else now + timedelta(days=uniform(1, 200))
                    status, completed = ("scheduled" if draw() < 0.2 else "pending"), NULL
                    if next_due is None or due < next_due:
                        next_due = due
                else:
                    due = opened_at + timedelta(days=uniform(1, 30))
                    status = "completed" if state == "done" else "cancelled"
                    completed = (due - timedelta(days=1)).isoformat() if state == "done" else NULL
                steps.append(
                    f"{step_id}\t{case_id}\t{kind}\t{side}\t{status}\t{due.isoformat()}\t{NULL}\t{completed}\t"
                    f"{NULL if facility is None else facility}\t{{}}\t{case_id}\t{opened}\n"
                )
                if facility is not None:
                    prior_id += 1
                    received = status == "completed"
                    priors.append(
                        f"{prior_id}\t{case_id}\t{facility}\t{step_id}\t{'received' if received else 'requested'}\t"
                        f"{NULL}\t{'stable' if received else NULL}\t{opened}\t{completed if received else NULL}\t"
                        f"0\t{NULL}\n"
                    )
            # what the triggers on steps keep (migration 0009), for a load that bypasses them
            case_rows.append(
                f"{case_id}\t{case_id}\tcalcifications\t{laterality}\t{density}\t0\tcalcifications\t1\topen\t"
                f"{opened}\t{NULL}\t1\t{NULL if next_due is None else next_due.isoformat()}\n"
            )
        yield {
            "patients": "".join(patients),
            "cases": "".join(case_rows),
            "case_events": "".join(events),
            "steps": "".join(steps),
            "prior_film_requests": "".join(priors),
        }
    counts.steps, counts.open_steps, counts.overdue, counts.prior_film_requests = step_id, open_total, overdue, prior_id


def _copy_chunk(cursor: psycopg.Cursor, chunk: dict[str, str]) -> None:
    for table, rows in chunk.items():
        with cursor.copy(f"COPY {table} ({TABLES[table]}) FROM STDIN") as copy:
            copy.write(rows)


def _drop_rebuildable_indexes(cursor: psycopg.Cursor, table: str) -> list[str]:
    """Drop the secondary indexes of (empty) `table` that can be built again as they are; return their
    definitions. Each is tried first, under a savepoint, by dropping it and running its definition."""
    dropped = []
    for name, definition in cursor.execute(SECONDARY_INDEXES, (table,)).fetchall():
        cursor.execute("SAVEPOINT probe")
        cursor.execute(f"DROP INDEX {name}")
        cursor.execute(definition)
        again = cursor.execute("SELECT pg_get_indexdef(CAST(%s AS regclass))", (name,)).fetchone()
        cursor.execute("ROLLBACK TO SAVEPOINT probe")
        if again is not None and again[0] == definition:
            cursor.execute(f"DROP INDEX {name}")
            dropped.append(definition)
    return dropped


def generate(
    url: str, cases: int = 100_000, *, seed: int = 1, now: datetime | None = None, overdue_share: float = 0.05
) -> Generated:
    """Load the population with COPY in one transaction, then VACUUM ANALYZE; returns what was loaded.

    Rows are written a chunk of cases at a time while a second thread copies the chunk before
    (Python and PostgreSQL each keep a core busy). The secondary indexes are built after the rows
    are in. Triggers are off for the load (replica role): what they keep is written with the rows
    (`cases.next_step_due_at`), and the sweep's change log stays empty, so the first sweep after a
    load must be a full pass (it is: there is no watermark yet; ADR 12)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    counts = _Counts()
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            indexes = [definition for table in TABLES for definition in _drop_rebuildable_indexes(cursor, table)]
            with ThreadPoolExecutor(max_workers=1) as loader:
                pending: deque[Future[None]] = deque()
                for chunk in _chunks(rng, cases, now, overdue_share, counts):
                    pending.append(loader.submit(_copy_chunk, cursor, chunk))
                    if len(pending) > 1:  # at most one chunk waits while one is copied
                        pending.popleft().result()
                for future in pending:
                    future.result()
            phases["rows written and copied"] = time.perf_counter() - started
            mark = time.perf_counter()
            for definition in indexes:
                cursor.execute(definition)
            phases["indexes built"] = time.perf_counter() - mark
            for table in TABLES:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        connection.commit()
        mark = time.perf_counter()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")
        phases["VACUUM ANALYZE"] = time.perf_counter() - mark
    return Generated(
        cases, counts.steps, counts.open_steps, counts.overdue, counts.prior_film_requests,
        time.perf_counter() - started, phases,
    )  # fmt: skip


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
