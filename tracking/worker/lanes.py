"""The worker's two kinds of work, each with its pass, its fallback poll and its backoff.

- `case_runs`: the `run_pending_case_runs` flow (each claimed case runs its `workup` flow, which
  also delivers the case's notifications), up to `at_once` passes side by side when that many
  cases are due (claims skip each other's locked rows). Without Prefect it does not run: the
  requests wait and are tried again, never counted as failures (an outage met within a pass is
  recorded on the rows as one, by the flow itself).
- `notifications`: the `deliver_notifications` flow, or the same delivery without Prefect when its
  API cannot be reached (tracking/scheduler.py run_with_fallback, as the embedded scheduler does),
  DELIVERY_SETTLE_SECONDS after a wake-up.

A pass returns how many rows it settled. A pass that settles nothing while rows are due (another
worker holds them, or every receiver is away) makes the lane look again after a growing pause,
not at once; a pass that fails makes it wait a growing backoff, which a wake-up does not cut short.
The lanes' state is kept by their own thread; `wake()` may be called from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tracking.cases.errors import InvalidInput
from tracking.db import pool_capacity
from tracking.scheduler import Job, delivery_without_prefect, prefect_probe, run_with_fallback
from tracking.settings import Settings

CASE_RUNS_PER_PASS = 25  # short passes: a stop never waits long
# A recorded event asks for a case run, whose flow sends the case's notifications itself. Delivery
# looks this long after its wake-up: by then the case run has usually sent them (no extra flow run),
# and if case runs lag behind (a burst, Prefect away) delivery sends them without waiting for them.
DELIVERY_SETTLE_SECONDS = 2.0
DELIVERIES_PER_PASS = 200
FIRST_PAUSE_SECONDS = 1.0
UNREACHABLE_PAUSE_SECONDS = 5.0


class PrefectAway(RuntimeError):
    """The Prefect API did not answer its health check: case runs wait for it."""


@dataclass
class Lane:
    table: str  # what the wake-up names (the table a row went into), and what the lane works on
    every_seconds: float  # the fallback poll: look this often even without a wake-up
    run: Callable[[], int]  # one pass; returns the rows it settled
    at_once: int = 1  # passes side by side when that many things are due
    settle_seconds: float = 0.0  # after a wake-up, look this much later (wake-ups meanwhile are one look)
    check_at: float = 0.0  # time.monotonic() of the next look at what is due (0: at once)
    not_before: float = 0.0  # after a failed pass: no pass before this, wake-up or not
    idle_passes: int = 0
    failed_passes: int = 0
    wakes: int = 0  # wake-ups received
    woken_at: float = 0.0  # time.monotonic() of the first wake-up not yet answered
    seen: int = 0  # wake-ups already answered by a look
    busy: bool = False  # looking or in a pass
    signal: threading.Event = field(default_factory=threading.Event, repr=False)

    def wake(self) -> None:
        if not self.woken:
            self.woken_at = time.monotonic()
        self.wakes += 1
        self.signal.set()

    @property
    def woken(self) -> bool:
        return self.wakes != self.seen

    def next_moment(self) -> float:
        """When this lane looks next (time.monotonic()): soon after a wake-up, unless backing off."""
        if self.woken:
            return max(self.woken_at + self.settle_seconds, self.not_before)
        return max(self.check_at, self.not_before)

    def nothing_due(self, now: float, next_in: float | None) -> None:
        self.check_at = now + min(self.every_seconds, self.every_seconds if next_in is None else next_in)

    def settled(self, now: float, rows: int) -> None:
        self.failed_passes = 0
        if rows:
            self.idle_passes, self.check_at = 0, now  # more may be due: look again at once
        else:
            self.idle_passes += 1
            self.check_at = now + self._pause(self.idle_passes)

    def unreachable(self, now: float) -> None:
        """The database did not answer the look: look again soon (a reconnection wakes the lane too)."""
        self.check_at = now + min(self.every_seconds, UNREACHABLE_PAUSE_SECONDS)

    def reachable(self) -> None:
        """The database answers again: look at once, whatever backoff an outage caused."""
        self.not_before = 0.0
        self.wake()

    def failed(self, now: float) -> None:
        self.failed_passes += 1
        self.not_before = self.check_at = now + self._pause(self.failed_passes)

    def _pause(self, times: int) -> float:
        return min(self.every_seconds, FIRST_PAUSE_SECONDS * 2 ** min(times - 1, 16))


def case_runs_pass(limit: int = CASE_RUNS_PER_PASS) -> int:
    from flows.workup import run_pending_case_runs

    problem = prefect_probe()  # a hung API would otherwise hold the pass through the client's retries
    if problem is not None:
        raise PrefectAway(problem)
    return run_pending_case_runs(limit=limit)["done"]


def delivery_pass(every_seconds: int, limit: int = DELIVERIES_PER_PASS) -> int:
    from flows.delivery import deliver_notifications

    job = Job("deliver_notifications", every_seconds, lambda: deliver_notifications(limit=limit),
              lambda: delivery_without_prefect(limit=limit))  # fmt: skip
    report = run_with_fallback(job)
    return report["delivered"] + report["retrying"] + report["dead"]  # "waiting": the receiver is away


# The connections one `workup worker` may hold at once besides its LISTEN connection: two for each
# case-run claimer (its claim, held while the case's flow runs, and the flow's own session), and
# two for each of the two lanes (its "anything due?" look, and the delivery pass's).
CONNECTIONS_PER_CLAIMER = 2
CONNECTIONS_FOR_LANES = 4


def check_connections(settings: Settings) -> None:
    """Refuse a worker whose claimers would outnumber its engine's connections: each claimer would hold
    its claim while waiting for a second connection, and every case run would stall."""
    needed = CONNECTIONS_PER_CLAIMER * settings.case_runs_at_once + CONNECTIONS_FOR_LANES
    capacity = pool_capacity(settings.pool_size)
    if needed > capacity:
        most = max(0, (capacity - CONNECTIONS_FOR_LANES) // CONNECTIONS_PER_CLAIMER)
        pool = -(-needed // pool_capacity(1))
        fewer = f", or WORKUP_CASE_RUNS_AT_ONCE to at most {most}" if most >= 1 else ""
        raise InvalidInput(
            f"WORKUP_CASE_RUNS_AT_ONCE={settings.case_runs_at_once} needs up to {needed} database connections "
            f"in `workup worker`, but WORKUP_DB_POOL_SIZE={settings.pool_size} allows {capacity}: set "
            f"WORKUP_DB_POOL_SIZE to at least {pool}{fewer}"
        )


def default_lanes(settings: Settings) -> list[Lane]:
    return [
        Lane("case_runs", settings.case_runs_every_seconds, case_runs_pass, at_once=settings.case_runs_at_once),
        Lane(
            "notifications",
            settings.delivery_every_seconds,
            lambda: delivery_pass(settings.delivery_every_seconds),
            settle_seconds=DELIVERY_SETTLE_SECONDS,
        ),
    ]
