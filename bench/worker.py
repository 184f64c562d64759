"""Benchmark: from a recorded event to its outside work done by `workup worker`, and the idle worker's CPU.

    python -m bench.worker [--events 100] [--spacing 0.2] [--steady-events 30] [--steady-spacing 2]
                           [--idle-seconds 60] [--server-url URL] [--prefect-api-url URL]

A fresh database is created and migrated, an SMTP server (aiosmtpd) listens on loopback, and a
Prefect server runs as its own process (as in docker compose; or the one --prefect-api-url names).
`workup worker` runs as a subprocess with the settings compose gives it (flow heartbeats every 30 s,
the default fallback polls). The bench opens cases (their opening runs are served first), then
records one BI-RADS 4B magnification read per case through `record_event`, each in its own
transaction, `--spacing` seconds apart (a burst), then, once that backlog is served, more
`--steady-spacing` seconds apart (a steady pace): each asks for a case run and queues a
result-letter notice for the navigators. Measured per event, as seen by polling the database
every 20 ms: from its commit until the case's notifications are sent or tried ("notice sent": the
outside work itself), until its case run is finished ("case run done"), and until both ("outside
work"). Then the worker is left idle and its CPU time (utime + stime from /proc, with any child process) is read
over `--idle-seconds`, as a share of one core, with the flow runs created meanwhile.

`measure(url)` returns the figures as a dict for bench/run.py. Targets (issue 14): p95 under 5 s,
an idle worker under 2% of a core. WORKUP_CASE_RUNS_AT_ONCE and WORKUP_DB_POOL_SIZE, when set here,
are passed on to the worker.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import Session

from bench.cpu import cpu_seconds
from bench.latency import Latencies
from bench.record import READS
from bench.report import WORKER_TARGET_IDLE_PERCENT, WORKER_TARGET_P95_S
from bench.run import server_url, verdict
from bench.server import free_port

NAVIGATORS = "navigators@bench.test"
WORKUP = str(Path(sys.executable).parent / "workup")
POLL_SECONDS = 0.02


@contextmanager
def mail_server():
    """An SMTP server on loopback that accepts everything; yields its port."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            return "250 Message accepted"

    controller = Controller(Accept(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@contextmanager
def prefect_api(given: str | None, server: str, home: Path):
    """The Prefect API URL: the given one, or a `prefect server start` of our own (stopped after)."""
    if given:
        yield given
        return
    from tests.prefect_server import running_prefect_server

    with running_prefect_server(home, server) as prefect:
        yield prefect.api_url


def worker_env(url: str, api_url: str, smtp_port: int, home: Path) -> dict[str, str]:
    """The worker's environment: compose's settings, and the two that size it if this process has them."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "WORKUP_"))
           or key in ("WORKUP_CASE_RUNS_AT_ONCE", "WORKUP_DB_POOL_SIZE")}  # fmt: skip
    env |= {"DATABASE_URL": url, "PREFECT_API_URL": api_url, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            "WORKUP_HOME": str(home), "WORKUP_SMTP_HOST": "127.0.0.1", "WORKUP_SMTP_PORT": str(smtp_port),
            "WORKUP_MAIL_FROM": "workup@bench.test", "WORKUP_NAVIGATOR_EMAIL": NAVIGATORS,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    return env


@contextmanager
def running_worker(env: dict[str, str], home: Path):
    """`workup worker` until its first look for work; SIGTERM at the end (it must exit 0)."""
    alive = home / "alive"
    log = (home / "worker.log").open("wb")
    process = subprocess.Popen([WORKUP, "worker", "--alive-file", str(alive)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not alive.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"workup worker did not start:\n{(home / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield process
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=90) != 0:
            raise RuntimeError(f"workup worker exited {process.returncode} on SIGTERM")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def open_cases(engine, count: int) -> list[int]:
    from tests.factories import seed_opening
    from tracking.cases.opening import FacilityRef, open_case

    facility = FacilityRef(name="Bench Imaging", channel="email", contact="films@bench-imaging.test")
    ids = []
    with Session(engine) as session:
        for number in range(count):
            opening = seed_opening(mrn=f"BENCH-W-{number:05d}", facilities=[facility])
            ids.append(open_case(session, opening, actor="bench", now=datetime.now(UTC)).case_id)
        session.commit()
    return ids


def progress(engine, case_ids: list[int]) -> dict[int, tuple[bool, bool]]:
    """Per case: (every notification sent or tried, every run request finished)."""
    if not case_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c, NOT EXISTS (SELECT 1 FROM notifications n WHERE n.case_id = c AND n.attempts = 0), "
                "NOT EXISTS (SELECT 1 FROM case_runs r WHERE r.case_id = c AND r.status = 'pending') "
                "FROM unnest(CAST(:ids AS int[])) c"
            ),
            {"ids": case_ids},
        )
        return {case: (sent, run) for case, sent, run in rows}


def wait_served(engine, case_ids: list[int], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not all(sent and run for sent, run in progress(engine, case_ids).values()):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not serve the opened cases in time")
        time.sleep(0.2)


def event_latencies(engine, case_ids: list[int], spacing: float) -> dict[str, Latencies]:
    """One 4B read per case, `spacing` s apart; seconds from each commit until the case's notice is
    sent ("sent"), its case run finished ("run"), and both ("both")."""
    from tracking.cases.recording import record_event

    committed: dict[int, float] = {}
    sent: dict[int, float] = {}
    ran: dict[int, float] = {}
    lock = threading.Lock()
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set() or len(sent) < len(committed) or len(ran) < len(committed):
            with lock:
                waiting = [case for case in committed if case not in sent or case not in ran]
            now = time.monotonic()
            for case, (notice_sent, run_done) in progress(engine, waiting).items():
                if notice_sent:
                    sent.setdefault(case, now)
                if run_done:
                    ran.setdefault(case, now)
            time.sleep(POLL_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    for number, case_id in enumerate(case_ids):
        time.sleep(max(0.0, started + number * spacing - time.monotonic()))
        with Session(engine) as session:
            record_event(session, case_id, "magnification_result", READS[0], actor="bench", now=datetime.now(UTC))
            session.commit()
        with lock:
            committed[case_id] = time.monotonic()
    finished.set()
    watcher.join(timeout=600)
    wall = time.monotonic() - started

    def latencies(done: dict[int, float]) -> Latencies:
        samples = [done[case] - committed[case] for case in case_ids if case in done]
        return Latencies(samples, wall, errors=len(case_ids) - len(samples))

    both = {case: max(sent[case], ran[case]) for case in case_ids if case in sent and case in ran}
    return {"sent": latencies(sent), "run": latencies(ran), "both": latencies(both)}


def flow_run_count(api_url: str) -> int:
    response = httpx.post(f"{api_url.rstrip('/')}/flow_runs/count", json={}, timeout=30)
    response.raise_for_status()
    return int(response.json())


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def figures(cases: list[int], spacing: float, measured: dict[str, Latencies]) -> dict:
    """One phase's latencies in seconds: to the notice sent, to the case run done, to both."""
    both = measured["both"]
    result = {"events": len(cases), "spacing_s": spacing, "events_not_served": both.errors}
    for name, key in (("outside_work", "both"), ("notice_sent", "sent"), ("case_run_done", "run")):
        result[f"event_to_{name}_p50_s"] = round(measured[key].p50 / 1000, 3)
        result[f"event_to_{name}_p95_s"] = round(measured[key].p95 / 1000, 3)
    return result | {"event_to_outside_work_max_s": round(max(both.seconds, default=float("nan")), 3)}


def measure(url: str, *, events: int = 100, spacing: float = 0.2, steady_events: int = 30,
            steady_spacing: float = 2.0, idle_seconds: float = 60.0, prefect_api_url: str | None = None,
            server: str | None = None) -> dict:  # fmt: skip
    """Run the benchmark against the migrated, empty database `url`; the figures as a dict: a burst
    (`events`, `spacing` apart), then once its backlog is served a steady pace (`steady_events`,
    `steady_spacing` apart; none when 0), then the idle worker."""
    os.environ["WORKUP_NAVIGATOR_EMAIL"] = NAVIGATORS  # record_event queues the notice in this process
    from tracking.settings import get_settings

    get_settings.cache_clear()
    engine = create_engine(url, pool_size=3)
    result: dict = {}
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="workup-bench-worker-")))
        smtp_port = stack.enter_context(mail_server())
        api_url = stack.enter_context(prefect_api(prefect_api_url, server or server_url(None), home))
        process = stack.enter_context(running_worker(worker_env(url, api_url, smtp_port, home), home))
        warm = open_cases(engine, 3)
        event_latencies(engine, warm, spacing)  # imports and first flow runs: not measured
        for phase, count, apart in (("burst", events, spacing), ("steady", steady_events, steady_spacing)):
            if count:
                cases = open_cases(engine, count)
                wait_served(engine, cases)  # their opening runs, and the backlog of the phase before
                result[phase] = figures(cases, apart, event_latencies(engine, cases, apart))
        time.sleep(5)  # the last flow runs' logs and events are flushed
        runs_before, cpu_before, idle_started = flow_run_count(api_url), cpu_seconds(process.pid), time.monotonic()
        time.sleep(idle_seconds)
        cpu_after, idle_wall = cpu_seconds(process.pid), time.monotonic() - idle_started
        idle_runs = flow_run_count(api_url) - runs_before
        memory = rss_mib(process.pid)
    engine.dispose()
    return result | {
        "idle_worker_cpu_percent": round((cpu_after - cpu_before) / idle_wall * 100, 3),
        "idle_seconds": round(idle_wall, 1),
        "idle_flow_runs": idle_runs,
        "worker_rss_mib": round(memory, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between two events")
    parser.add_argument("--steady-events", type=int, default=30, help="then this many at a steady pace (0: none)")
    parser.add_argument("--steady-spacing", type=float, default=2.0, help="seconds between two steady events")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--server-url", default=None)
    parser.add_argument("--prefect-api-url", default=None, help="a running Prefect server (default: start one)")
    args = parser.parse_args(argv)
    from tests.conftest import create_database, drop_database, migrate

    server = server_url(args.server_url)
    url = create_database(server, prefix="workup_bench_worker")
    try:
        migrate(url)
        result = measure(url, events=args.events, spacing=args.spacing, steady_events=args.steady_events,
                         steady_spacing=args.steady_spacing, idle_seconds=args.idle_seconds,
                         prefect_api_url=args.prefect_api_url, server=server)  # fmt: skip
    finally:
        drop_database(server, url)
    for key, value in result.items():
        print(f"{key}: {value}")
    for phase in ("burst", "steady"):
        if phase in result:
            for name in ("notice_sent", "case_run_done"):
                p95 = result[phase][f"event_to_{name}_p95_s"]
                print(f"{phase}: event to {name.replace('_', ' ')} p95 < {WORKER_TARGET_P95_S:.0f} s: "
                      f"{verdict(p95, WORKER_TARGET_P95_S)}")  # fmt: skip
    idle = result["idle_worker_cpu_percent"]
    print(f"idle worker < {WORKER_TARGET_IDLE_PERCENT:.0f}% of a core: {verdict(idle, WORKER_TARGET_IDLE_PERCENT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
