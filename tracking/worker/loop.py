"""The worker's loop: wait for a wake-up or a lane's time, look at what is due, run the passes.

One thread runs it (`start()`), so Prefect's flow engine, which takes SIGTERM over while a flow
runs in the main thread, leaves the process's signal handling alone: `stop()` lets the pass in
progress finish, then the loop ends. Between passes:

- a burst of wake-ups is one look: every notification that arrived meanwhile is read at once, and
  a pass that settled rows is followed by another look straight away (more may be due);
- each lane also looks every `every_seconds` (its fallback poll), or sooner when its next pending
  row falls due, and starts a flow run only when the cheap query of tracking/worker/due.py finds
  something due: an idle worker creates no flow run;
- when the database goes away, the LISTEN connection is opened again with a growing pause (at
  most RECONNECT_MAX_SECONDS), and every lane looks once it is back. Nothing is lost meanwhile:
  the work is in the tables.

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

from tracking.outages import is_outage
from tracking.scheduler import prefect_unreachable
from tracking.worker.due import seconds_until_due
from tracking.worker.lanes import Lane, PrefectAway
from tracking.worker.wakeups import WakeUps

log = logging.getLogger(__name__)

RECONNECT_MAX_SECONDS = 30.0
STOP_GRACE_SECONDS = 60.0  # on stop, how long the pass in progress may take before the process goes on


class Worker:
    def __init__(self, url: str, lanes: list[Lane], *, alive_file: Path | None = None) -> None:
        self.lanes = lanes
        self.alive_file = alive_file
        self.wakeups = WakeUps(url)
        self._by_table = {lane.table: lane for lane in lanes}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.looks = 0  # due-queries asked (for tests and the bench)

    def start(self) -> None:
        """Run the loop in a thread of its own, in this thread's context (Prefect's settings); returns at once."""
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self.run,), name="workup-worker", daemon=True)
        self._thread.start()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> bool:
        """Let the pass in progress finish (up to `grace` seconds), then end the loop; True when it ended."""
        self._stop.set()
        self.wakeups.interrupt()
        ended = True
        if self._thread is not None:
            self._thread.join(timeout=grace)
            ended = not self._thread.is_alive()
            if not ended:
                log.warning("the worker's pass was still running at stop; it is cut short")
        self.wakeups.dispose()
        return ended

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The loop, in the calling thread, until stop()."""
        pause = 1.0
        away = False
        while not self.stopping:
            try:
                if not self.wakeups.connected:
                    self.wakeups.connect()
                    if away:
                        log.warning("worker: database reachable again; listening for work")
                    for lane in self.lanes:
                        lane.wake()  # work may have been written while nobody listened
                self._serve_due()
                away, pause = False, 1.0
                if self.stopping:
                    break
                for table in self.wakeups.wait(self._seconds_to_next_look()):
                    if table in self._by_table:
                        self._by_table[table].wake()
            except Exception as error:  # the database went away (or worse): listen again after a pause
                if not away:
                    level = logging.WARNING if is_outage(error) else logging.ERROR
                    log.log(level, "worker: database connection failed (%s); trying again", type(error).__name__)
                away = True
                self.wakeups.close()
                self.wakeups.pause(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)

    def _seconds_to_next_look(self) -> float:
        return max(0.0, min(lane.next_moment() for lane in self.lanes) - time.monotonic())

    def _serve_due(self) -> None:
        """For each lane whose time has come: ask what is due, and run a pass if anything is."""
        due: dict[str, float | None] | None = None
        for lane in self.lanes:
            if self.stopping:
                return
            now = time.monotonic()
            if now < lane.next_moment():
                continue
            if due is None:
                due = seconds_until_due(self.wakeups.connection, datetime.now(UTC))
                self.looks += 1
                self._alive()
            due_in = due[lane.table]
            if due_in is None or due_in > 0:
                lane.nothing_due(now, due_in)
                continue
            self._pass(lane)
            due = None  # a pass changes what is due (the case runs deliver their case's notifications)

    def _pass(self, lane: Lane) -> None:
        try:
            rows = lane.run()
        except Exception as error:
            lane.failed(time.monotonic())
            self._log_failure(lane, error)
            return
        if lane.failed_passes:
            log.warning("worker: %s passes work again", lane.table)
        lane.settled(time.monotonic(), rows)

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
