"""`make bench`: at each population size, build it, run benchmarks (a)-(f), then `workup worker`'s (g)
once, and write bench/RESULTS.md and bench/results.json (bench/report.py).

    python -m bench.run [--sizes 100000,1000000] [--server-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                        [--keep] [--no-worker]

For each size a fresh database `workup_bench_<id>` is created on the server (default:
WORKUP_BENCH_SERVER_URL, then the machine's 127.0.0.1:5432, then the embedded server), migrated,
loaded with COPY (10 steps a case, 5% of steps overdue), measured and dropped. Both sizes take about
25 minutes on the 2-core machine, most of it loading 1M cases and 10M steps; (g) about 4 more (a
Prefect server and `workup worker` as subprocesses, on an empty database; bench/worker.py).
Each HTTP configuration also reads the CPU time the client, the server's processes and PostgreSQL
spent per event (bench/cpu.py), which is what bounds the rate on two shared cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlmodel import Session

from bench import generate, naive, record, report, sweep, web, worklist
from bench.cpu import cpu_spent, postmaster_pid
from bench.latency import Latencies
from bench.server import Serve

SIZES = (100_000, 1_000_000)
# Events recorded at each size, one per case with open magnification views: through the service, its
# bare-SQL floor on one and on two connections, then over HTTP per (workers, clients); the "warm" ones
# are recorded untimed first (the first events load the pathways; each worker's first requests, the app).
EVENTS: dict[Any, int] = {"warm service": 8, "service": 300, "floor": 300, "floor x2": 600, "warm 1": 16,
                          (1, 1): 300, (1, 8): 800, (1, 32): 1600, "warm 2": 32, (2, 8): 800, (2, 32): 1600}  # fmt: skip
PAGE_CALLS = 200
FILTER_CALLS = 20


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, Python {platform.python_version()}"


def server_url(given: str | None) -> str:
    if given or os.environ.get("WORKUP_BENCH_SERVER_URL"):
        return given or os.environ["WORKUP_BENCH_SERVER_URL"]
    from tests.conftest import LOCAL_SERVER, _reachable

    if _reachable(LOCAL_SERVER):
        return LOCAL_SERVER
    from tracking.db import embedded_database_url

    return embedded_database_url(Path(".workup-bench"))


def verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    met = value <= target if lower_is_better else value >= target
    return "meets" if met else "MISSES"


def latencies(result: Latencies) -> dict[str, float | int]:
    """A timing as the report keeps it."""
    return {"n": len(result.seconds), "p50_ms": round(result.p50, 2), "p95_ms": round(result.p95, 2),
            "per_s": round(result.per_second, 1), "errors": result.errors}  # fmt: skip


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES), help="open cases, comma-separated")
    parser.add_argument("--server-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--no-worker", action="store_true", help="skip `workup worker`'s benchmark (bench/worker.py)")
    args = parser.parse_args(argv)
    from tests.conftest import create_database, drop_database, migrate

    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    server = server_url(args.server_url)
    figures: dict[str, Any] = {
        "run_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "command": f"python -m bench.run --sizes {','.join(str(size) for size in sizes)}"
        + (" --no-worker" if args.no_worker else ""),
        "sizes": {},
    }
    for cases in sizes:
        url = create_database(server, prefix="workup_bench")
        print(f"bench database for {cases:,} cases: {url.rsplit('/', 1)[-1]}", flush=True)
        try:
            figures["sizes"][str(cases)] = measure(url, cases)
        finally:
            if not args.keep:
                drop_database(server, url)
        figures["postgres"] = figures["sizes"][str(cases)].pop("postgres")
    if not args.no_worker:  # once, on an empty database: its figures do not depend on the population
        from bench import worker

        url = create_database(server, prefix="workup_bench_worker")
        try:
            migrate(url)
            before = load_average()
            figures["worker"] = worker.measure(url, server=server) | {"load_average_before": before,
                                                                      "load_average_after": load_average()}  # fmt: skip
            print(f"(g) workup worker: {figures['worker']}", flush=True)
        finally:
            drop_database(server, url)
    report.write(figures)
    print(f"wrote {report.RESULTS} and {report.JSON}")
    return 0


def measure(url: str, cases: int) -> dict[str, Any]:
    """Every figure at one population size, as a JSON-able dict (bench/report.py reads it)."""
    from tests.conftest import migrate

    found: dict[str, Any] = {"load_average_before": load_average()}
    os.environ["DATABASE_URL"] = url
    migrate(url)
    loaded = generate.generate(url, cases)
    print(f"generated: {loaded}", flush=True)
    found["population"] = asdict(loaded)
    engine = create_engine(url)
    with engine.connect() as connection:
        found["postgres"] = connection.execute(text("SHOW server_version")).scalar_one()

    times = sweep.measure(url)
    print(f"(a) {times}", flush=True)
    found["sweep"] = asdict(times) | {"no_change_median": times.no_change_median}

    naive_seconds, sample, open_cases = naive.run(url)
    found["naive"] = {"sample": sample, "seconds": naive_seconds, "open_cases": open_cases}
    print(f"(d) {sample} flow runs in {naive_seconds:.1f} s", flush=True)

    from tracking.users.service import create_api_token, create_user

    with Session(engine) as session:
        create_user(session, username="bench-nav", display_name="Bench", role="navigator", password="bench-password",
                    actor="bench", now=datetime.now(UTC))  # fmt: skip
        token = create_api_token(session, "bench-nav", name="bench", actor="bench", now=datetime.now(UTC))
        session.commit()
    candidates = record.cases_awaiting_magnification(url, sum(EVENTS.values()))
    scale = min(1.0, len(candidates) / sum(EVENTS.values()))  # small populations: fewer events each
    counts = {key: max(8, int(value * scale)) for key, value in EVENTS.items()}
    batches, offset = {}, 0
    for key, count in counts.items():
        batches[key], offset = candidates[offset : offset + count], offset + count
    record.through_service(url, batches["warm service"])  # untimed: the first events load the pathways
    service = record.through_service(url, batches["service"])
    floor = record.bare_sql(url, batches["floor"])
    floor_parallel = record.bare_sql(url, batches["floor x2"], concurrency=2)
    print(f"(b) service: {service.summary()}\n(b) bare SQL: {floor.summary()}\n(b) bare SQL x2: "
          f"{floor_parallel.summary()}", flush=True)  # fmt: skip
    found["events"] = {"service": latencies(service), "floor": latencies(floor), "floor_2_connections":
                       latencies(floor_parallel), "http": []}  # fmt: skip

    postmaster = postmaster_pid(engine)
    for workers in (1, 2):
        serve = Serve(url, workers=workers)
        try:
            record.through_http(serve.url, token, batches[f"warm {workers}"], 2 * workers)
            if workers == 1:  # the default `workup serve`: latency of pages and API, and its memory
                page = web.worklist_page(web.signed_in(serve.url, "bench-nav", "bench-password"), PAGE_CALLS)
                overdue = web.overdue_api(serve.url, token, PAGE_CALLS)
                page_floor = web.worklist_bare_sql(url, PAGE_CALLS)
                print(f"(c) worklist: {page.summary()}\n(c) its bare SQL: {page_floor.summary()}\n"
                      f"(c) overdue API: {overdue.summary()}", flush=True)  # fmt: skip
                found["pages"] = {"worklist": latencies(page), "worklist_floor": latencies(page_floor),
                                  "overdue_api": latencies(overdue)}  # fmt: skip
                memory_before = serve.peak_memory_mb()
            for key in [key for key in counts if isinstance(key, tuple) and key[0] == workers]:
                with cpu_spent(serve.process.pid, postmaster) as spent:
                    result = record.through_http(serve.url, token, batches[key], key[1])
                cpu = {name: None if seconds is None else round(seconds / len(batches[key]) * 1000, 2)
                       for name, seconds in spent.items()}  # fmt: skip
                print(f"(b) http workers={workers} x{key[1]}: {result.summary()}; CPU ms an event {cpu}", flush=True)
                found["events"]["http"].append({"workers": workers, "clients": key[1]} | latencies(result)
                                               | {"cpu_ms_per_event": cpu})  # fmt: skip
            if workers == 1:
                found["memory"] = {
                    "after_pages_mib": round(memory_before),
                    "after_events_mib": round(serve.peak_memory_mb()),
                }
        finally:
            serve.stop()

    found["worklist_filters"] = []
    for name, result in worklist.measure(url, FILTER_CALLS):
        print(f"(f) {name:42s} {result.summary()}", flush=True)
        found["worklist_filters"].append({"filter": name} | latencies(result))
    engine.dispose()
    found["load_average_after"] = load_average()
    return found


if __name__ == "__main__":
    sys.exit(main())
