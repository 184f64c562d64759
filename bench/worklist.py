"""Benchmark: the patient worklist (one row per case) at scale, by filter, p50/p95 of the service call.

    python -m bench.worklist [--cases 100000] [--server-url URL] [--calls 30]

A fresh database is created, migrated, loaded by bench.generate (COPY), measured and dropped. Each
line times `worklist_page` (the count and the first page of 50, as the page asks for them) for one
filter combination a navigator uses; the step list the worklist showed before (`worklist`, one row
per open step) is timed beside it for comparison.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlmodel import Session

from bench import generate
from bench.latency import Latencies, timed_calls

COMBINATIONS = {
    "needs action (default)": {},
    "all open cases": {"needs_action": False},
    "all open cases, page 100": {"needs_action": False, "_page": 100},
    "search by MRN": {"search": "MRN"},
    "search by name part (a few patients)": {"search": "Patient4242"},
    "search by name part (every patient)": {"search": "ynth"},
    "overdue 8-30 days": {"lateness": "overdue_8_30"},
    "BI-RADS 4-5": {"birads": ("4A", "4B", "4C", "5")},
    "step + lateness + BI-RADS": {"step_kind": "magnification_views", "lateness": "overdue", "birads": ("0",)},
}


def measure(url: str, calls: int) -> list[tuple[str, Latencies]]:
    from tracking.cases.patient_worklist import PatientFilters, worklist_page
    from tracking.cases.queries import worklist

    engine = create_engine(url, pool_size=2)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        mrn = connection.execute(text("SELECT mrn FROM patients ORDER BY id DESC LIMIT 1")).scalar_one()
    results = []
    for name, given in COMBINATIONS.items():
        values = {key: (mrn if value == "MRN" else value) for key, value in given.items() if key != "_page"}
        filters = PatientFilters(**values)
        page = given.get("_page", 1)

        def call(_: int, filters: PatientFilters = filters, page: int = page) -> bool:
            with Session(engine) as session:
                worklist_page(session, now, filters, page=page, page_size=50)
            return True

        call(0)  # warm
        results.append((name, timed_calls(call, calls)))

    def steps(_: int) -> bool:
        with Session(engine) as session:
            worklist(session, now, actor="bench", limit=50)
            session.rollback()
        return True

    steps(0)
    results.append(("before: one row per step (first page)", timed_calls(steps, calls)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--server-url", default=None)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    from bench.run import server_url
    from tests.conftest import create_database, drop_database, migrate

    server = server_url(args.server_url)
    url = create_database(server, prefix="workup_bench")
    try:
        migrate(url)
        print(f"generated: {generate.generate(url, args.cases)}", flush=True)
        for name, latencies in measure(url, args.calls):
            print(f"{name:42s} {latencies.summary()}", flush=True)
    finally:
        drop_database(server, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
