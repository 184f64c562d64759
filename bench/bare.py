"""Floors: the bare SQL an operation sends, captured from the engine and replayed without the application.

`capture` runs the operation once in a transaction it rolls back and keeps every statement the
engine sent, with its parameters, exactly as psycopg received them. `replay` sends them again on a
plain psycopg connection: no SQLAlchemy, no ORM objects, no pathway engine, no HTTP. What is left
is what PostgreSQL and one client round trip per statement cost for the same work, the floor the
application's figure is compared with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.latency import Latencies

Statements = list[tuple[str, Any, bool]]  # (statement, parameters, executemany)


def capture(engine: Engine, work: Callable[[Session], object]) -> Statements:
    """The statements `work(session)` sends, in order; its transaction is rolled back."""
    sent: Statements = []

    def listen(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters, executemany))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with Session(engine) as session:
            work(session)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return sent


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


def run(connection: psycopg.Connection, statements: Statements, *, commit: bool) -> float:
    """Send `statements` in one transaction, then commit (or roll back); returns the seconds it took."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement, parameters, many in statements:
            if many:
                cursor.executemany(statement, parameters)
            else:
                cursor.execute(statement, parameters or None)
    if commit:
        connection.commit()
    else:
        connection.rollback()
    return time.perf_counter() - started


def replay(url: str, batches: list[Statements], *, commit: bool, concurrency: int = 1) -> Latencies:
    """Replay each batch once, in its own transaction, on `concurrency` connections (one thread each)."""
    samples: list[float] = []
    lock = threading.Lock()
    work = iter(batches)

    def worker() -> None:
        with connect(url) as connection:
            while True:
                with lock:
                    batch = next(work, None)
                if batch is None:
                    return
                seconds = run(connection, batch, commit=commit)
                with lock:
                    samples.append(seconds)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Latencies(samples, time.perf_counter() - started)
