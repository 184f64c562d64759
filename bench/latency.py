"""Timing helpers: percentiles and a bounded concurrent load of HTTP requests."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Latencies:
    seconds: list[float]
    wall: float
    errors: int = 0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] * 1000

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p95(self) -> float:
        return self.percentile(0.95)

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall if self.wall else 0.0

    def summary(self) -> str:
        return (f"n={len(self.seconds)} p50={self.p50:.1f} ms p95={self.p95:.1f} ms "
                f"mean={statistics.mean(self.seconds) * 1000:.1f} ms rate={self.per_second:.0f}/s errors={self.errors}")  # fmt: skip


def timed_calls(call: Callable[[int], bool], count: int, concurrency: int = 1) -> Latencies:
    """Run `call(i)` for i in range(count) on `concurrency` threads; `call` returns True on success."""
    samples: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_index = iter(range(count))

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            started = time.perf_counter()
            ok = call(index)
            elapsed = time.perf_counter() - started
            with lock:
                samples.append(elapsed)
                errors += 0 if ok else 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Latencies(samples, time.perf_counter() - started, errors)
