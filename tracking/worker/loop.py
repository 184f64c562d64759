"""The worker: one thread listens for wake-ups, one thread per lane looks at what is due and runs passes.

Flows run in the lane threads, never in the main thread, so Prefect's flow engine (which takes
SIGTERM over while a flow runs in the main thread) leaves the process's signal handling alone, and
the lanes never wait for each other: a notice goes out while case runs are still going.

- The listening thread holds the LISTEN connection (tracking/worker/wakeups.py) and wakes the lane
  a notification names. When the database goes away it connects again after a growing pause (at
  most RECONNECT_MAX_SECONDS) and then wakes every lane: work written meanwhile is in the tables.
- A lane looks when woken, every `every_seconds` (its fallback poll), or when its next pending row
  falls due, and starts a flow run only when the cheap query of tracking/worker/due.py finds
  something due: an idle worker creates no flow run. A burst of wake-ups is one look; a pass that
  settled rows is followed by another look at once (more may be due).
- `stop()` lets passes in progress finish (up to a grace), then the threads end.

Several workers may run at once: claims and deliveries lock their rows with SKIP LOCKED. Logs
name tables, counts and error classes only (no patient data).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from tracking.outages import is_outage
from tracking.scheduler import prefect_unreachable
from tracking.worker.due import look
from tracking.worker.lanes import Lane, PrefectAway
from tracking.worker.wakeups import CONNECT_ARGS, WakeUps

log = logging.getLogger(__name__)

RECONNECT_MAX_SECONDS = 30.0
STOP_GRACE_SECONDS = 60.0  # on stop, how long passes in progress may take before the process goes on
LISTEN_TIMEOUT_SECONDS = 60.0
LOOK_CONNECT_ARGS = {**CONNECT_ARGS, "application_name": "workup worker looks"}


class Worker:
    def __init__(self, url: str, lanes: list[Lane], *, alive_file: Path | None = None) -> None:
        self.lanes = lanes
        self.alive_file = alive_file
        self.wakeups = WakeUps(url)
        self._engine = create_engine(url, pool_size=len(lanes), max_overflow=0, pool_pre_ping=True,
                                     connect_args=LOOK_CONNECT_ARGS, hide_parameters=True)  # fmt: skip
        self._by_table = {lane.table: lane for lane in lanes}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count = threading.Lock()
        self.looks = 0  # due-queries asked (for tests)
        self.connections = 0  # LISTEN connections made (for tests)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        """Start the threads, in this thread's context (Prefect's settings); returns at once."""
        targets = [(self._listen, "workup-worker-listen")]
        targets += [(lambda lane=lane: self._serve(lane), f"workup-worker-{lane.table}") for lane in self.lanes]
        for target, name in targets:
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Let passes in progress finish (up to `grace` seconds), then end; True when every thread ended."""
        self._stop.set()
        self.wakeups.interrupt()
        for lane in self.lanes:
            lane.signal.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        running = [thread.name for thread in self._threads if thread.is_alive()]
        if running:
            log.warning("worker: %s still running at stop; cut short", ", ".join(running))
        self.wakeups.dispose()
        self._engine.dispose()
        return not running

    # --- listening ---------------------------------------------------------------------------

    def _listen(self) -> None:
        pause, away = 1.0, False
        while not self.stopping:
            try:
                if not self.wakeups.connected:
                    self.wakeups.connect()
                    if away:
                        log.warning("worker: database reachable again; listening for work")
                    pause, away = 1.0, False
                    for lane in self.lanes:
                        lane.reachable()  # work may have been written while nobody listened
                    with self._count:
                        self.connections += 1
                for table in self.wakeups.wait(LISTEN_TIMEOUT_SECONDS):
                    if table in self._by_table:
                        self._by_table[table].wake()
            except Exception as error:  # the database went away: listen again after a pause
                if not away:
                    level = logging.WARNING if is_outage(error) else logging.ERROR
                    log.log(level, "worker: lost the wake-up connection (%s); trying again", type(error).__name__)
                away = True
                self.wakeups.close()
                self.wakeups.pause(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)

    # --- a lane --------------------------------------------------------------------------------

    def _serve(self, lane: Lane) -> None:
        while not self.stopping:
            lane.signal.wait(max(0.0, lane.next_moment() - time.monotonic()))
            lane.signal.clear()
            now = time.monotonic()
            if self.stopping or now < lane.next_moment():
                continue
            lane.seen, lane.busy = lane.wakes, True
            try:
                self._look_and_pass(lane, now)
            finally:
                lane.busy = False

    def _look_and_pass(self, lane: Lane, now: float) -> None:
        try:
            with self._engine.connect() as connection:
                due = look(connection, lane.table, datetime.now(UTC), most=lane.at_once)
        except Exception as error:  # the database is away: the listening thread logs it and wakes us after
            lane.unreachable(now)
            log.debug("worker: %s look failed (%s)", lane.table, type(error).__name__)
            return
        with self._count:
            self.looks += 1
        self._alive()
        if not due.now:
            lane.nothing_due(now, due.next_in)
            return
        rows, errors = self._passes(lane, min(lane.at_once, due.now))
        if errors:
            lane.failed(time.monotonic())
            self._log_failure(lane, errors[0])
            return
        if lane.failed_passes:
            log.warning("worker: %s passes work again", lane.table)
        lane.settled(time.monotonic(), rows)

    def _passes(self, lane: Lane, count: int) -> tuple[int, list[Exception]]:
        """`count` passes side by side (one in this thread); the rows they settled and their errors."""
        results: list[int | Exception] = []

        def one() -> None:
            try:
                results.append(lane.run())
            except Exception as error:
                results.append(error)

        others = []
        for number in range(count - 1):
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(one,), name=f"workup-worker-{lane.table}-{number}")
            thread.start()
            others.append(thread)
        one()
        for thread in others:
            thread.join()
        errors = [result for result in results if isinstance(result, Exception)]
        return sum(result for result in results if not isinstance(result, Exception)), errors

    def _log_failure(self, lane: Lane, error: Exception) -> None:
        if lane.failed_passes > 1:
            log.debug("worker: %s pass failed again (%s)", lane.table, type(error).__name__)
            return
        if isinstance(error, PrefectAway):
            reason = f"Prefect API unreachable ({error})"
        elif (prefect := prefect_unreachable(error)) is not None:
            reason = f"Prefect API unreachable ({prefect})"
        elif is_outage(error):
            reason = f"a service is away ({type(error).__name__})"
        else:
            log.error("worker: %s pass failed (%s); it is tried again after a pause", lane.table,
                      type(error).__name__)  # fmt: skip
            return
        log.warning("worker: %s; %s wait and are tried again, never counted as failures", reason, lane.table)

    def _alive(self) -> None:
        """Touch the alive file (a container healthcheck reads its age)."""
        if self.alive_file is None:
            return
        try:
            self.alive_file.touch()
        except OSError as error:
            log.debug("worker: cannot touch %s (%s)", self.alive_file, error.strerror)
