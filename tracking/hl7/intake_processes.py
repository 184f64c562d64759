"""Intake in several processes: the listener's event loop reads the MLLP blocks and answers them,
and a pool of worker processes stores and interprets them (tracking/hl7/intake.py), so the
interpreter's Python work runs on every core instead of behind one process's GIL.

Each worker opens its own connection pool to the database (never one inherited). The workers are
started with "spawn" (the listener may run inside `workup serve`, whose threads must not be
forked); they ignore SIGINT, so Ctrl-C in a terminal never cuts a message in half: the listener
stops them once the messages in hand are answered. SIGTERM ends a worker (the executor uses it on
the survivors of a broken pool); its open transaction is rolled back and the message answered AE.
A worker whose listener died (SIGKILL) exits within a second; a transaction it had open is rolled
back by the database.

A worker that dies (killed, out of memory) breaks the pool: the message it held is answered AE
(the sender sends it again; had it been stored, it is found as a duplicate), and a new pool is
started for the next message.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from sqlalchemy import Engine

from tracking.hl7.intake import not_stored, receive

log = logging.getLogger(__name__)

ORPHAN_CHECK_SECONDS = 1.0
_engine: Engine | None = None  # the worker's own


def _start_worker(url: str, pool_size: int, log_level: int, listener_pid: int) -> None:
    """In each worker process, once: signals, the listener's death, logging, the database."""
    global _engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the listener decides
    threading.Thread(target=_exit_with, args=(listener_pid,), name="hl7-intake-orphan-check", daemon=True).start()
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s[%(process)d]: %(message)s")
    from tracking.db import engine_for
    from tracking.logs import install as install_log_scrubber

    install_log_scrubber()
    _engine = engine_for(url, pool_size)


def _exit_with(listener_pid: int) -> None:
    """End this worker within a second of the listener's death, however it died (a worker started
    by a thread cannot use PR_SET_PDEATHSIG: it fires when that thread ends)."""
    while os.getppid() == listener_pid:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _ready() -> int:
    from tracking.hl7.intake import default_interpreter

    default_interpreter()  # imported now, not on the first message
    return os.getpid()


def _receive_here(raw: bytes, now: datetime) -> bytes:
    assert _engine is not None, "not started as an intake worker"
    return receive(_engine, raw, now=now)


class IntakeProcesses:
    """`processes` workers receiving messages for one listener; `submit(raw, now)` gives the ACK's future."""

    def __init__(self, engine: Engine, processes: int):
        if processes < 1:
            raise ValueError("an intake pool needs at least one process")
        self.processes = processes
        self._url = engine.url.render_as_string(hide_password=False)
        self._pool = self._new_pool()
        self.generation = 0  # which pool: a broken one is replaced once, however many messages it held

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._url, 2, logging.getLogger("tracking").getEffectiveLevel(), os.getpid()),
        )

    def submit(self, raw: bytes, now: datetime) -> Future:
        """The ACK's future; raises BrokenProcessPool when a worker of this generation died."""
        return self._pool.submit(_receive_here, raw, now)

    def pids(self) -> list[int]:
        """The workers' process ids (for operations and the tests)."""
        return sorted(self._pool._processes or {})

    def replace_broken(self, generation: int, raw: bytes, now: datetime) -> bytes:
        """After a worker died: a new pool for what follows (once per broken pool; call from one
        thread, the listener's event loop), and AE for a message the broken pool held."""
        if generation == self.generation:
            log.error("an HL7 intake process died (listener pid %s); starting new ones, messages in hand are "
                      "answered AE", os.getpid())  # fmt: skip
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self.generation += 1
            threading.Thread(target=self.warm_up, name="hl7-intake-warm-up", daemon=True).start()
        return not_stored(raw, now=now)

    def warm_up(self) -> None:
        """Start every worker now (each imports the interpreter and connects), not on the first messages."""
        for future in [self._pool.submit(_ready) for _ in range(self.processes * 2)]:
            with contextlib.suppress(BrokenProcessPool):  # died meanwhile: the next message replaces the pool
                future.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
