"""Benchmark: HL7 messages per second through the real MLLP listener, and the ACK latency.

    python -m bench.hl7 [--messages 3000] [--senders 1,4,16] [--processes 0,2] [--server-url URL]

A fresh database is created and migrated; `workup hl7 listen` runs as its own process against it
(the interpreter it has: at merge, the real one), and N senders, each on its own TCP connection,
send realistic ORU^R01 messages one after another, each waiting for its ACK, as a RIS does. Every
message has its own control id, so each is stored and interpreted (no duplicates). Printed per
number of intake processes (`--processes`; 0 is threads in the listener's process) and of senders:
messages, messages per second (all senders together), p50 and p95 from sending a message to
reading its ACK, and how many were not answered AA. Target: at least 200
messages a second on the 2-core machine (client, listener and PostgreSQL share it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.latency import Latencies
from bench.run import server_url, verdict

TARGET_PER_SECOND = 200
TEMPLATE = (Path(__file__).resolve().parent.parent / "tests" / "hl7_corpus" / "oru_r01_lf.hl7").read_bytes()


def messages(prefix: str, count: int) -> list[bytes]:
    return [TEMPLATE.replace(b"NS-ORU-0001", f"{prefix}-{number:07d}".encode()) for number in range(count)]


def start_listener(url: str, processes: int) -> tuple[subprocess.Popen, int]:
    workup = str(Path(sys.executable).parent / "workup")
    env = {**os.environ, "DATABASE_URL": url, "WORKUP_DB_POOL_SIZE": "8"}
    command = [workup, "hl7", "listen", "--host", "127.0.0.1", "--port", "0", "--processes", str(processes)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline() if process.stdout else ""
    if "127.0.0.1:" not in line:
        process.kill()
        raise RuntimeError(f"workup hl7 listen did not start: {line!r}")
    return process, int(line.split("127.0.0.1:")[1].split()[0])


def send_all(port: int, batches: list[list[bytes]]) -> Latencies:
    """Each batch on its own connection, all at once; the latency of every message and the wall time."""
    from tests.hl7_support import MllpClient, ack_code

    samples: list[float] = []
    errors = 0
    lock = threading.Lock()
    ready = threading.Barrier(len(batches) + 1)

    def sender(batch: list[bytes]) -> None:
        nonlocal errors
        with MllpClient(("127.0.0.1", port), timeout=60) as client:
            ready.wait()
            for raw in batch:
                started = time.perf_counter()
                ack = client.exchange(raw)
                elapsed = time.perf_counter() - started
                with lock:
                    samples.append(elapsed)
                    errors += ack_code(ack) != "AA"

    threads = [threading.Thread(target=sender, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return Latencies(samples, time.perf_counter() - started, errors)


def numbers(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="messages per run")
    parser.add_argument("--senders", default="1,4,16", help="numbers of concurrent senders, comma-separated")
    parser.add_argument("--processes", default="0,2", help="numbers of intake processes, comma-separated")
    parser.add_argument("--server-url", default=None)
    args = parser.parse_args(argv)
    from tests.conftest import create_database, drop_database, migrate

    server = server_url(args.server_url)
    url = create_database(server, prefix="workup_bench_hl7")
    try:
        migrate(url)
        print(
            f"| intake processes | senders | messages | messages/s | p50 | p95 | not AA | target >= {TARGET_PER_SECOND}/s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for processes in numbers(args.processes):
            listener, port = start_listener(url, processes)
            try:
                send_all(port, [messages(f"W{processes}", 50)])
                for senders in numbers(args.senders):
                    per_sender = max(1, args.messages // senders)
                    batches = [
                        messages(f"P{processes}S{senders}C{connection}", per_sender) for connection in range(senders)
                    ]
                    result = send_all(port, batches)
                    print(f"| {processes or 'threads'} | {senders} | {len(result.seconds)} | {result.per_second:.0f} | "
                          f"{result.p50:.1f} ms | {result.p95:.1f} ms | {result.errors} | "
                          f"{verdict(result.per_second, TARGET_PER_SECOND, lower_is_better=False)} |", flush=True)  # fmt: skip
            finally:
                listener.terminate()
                listener.wait(timeout=60)
    finally:
        drop_database(server, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
