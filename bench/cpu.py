"""CPU time by process tree, read from /proc: where an event's CPU goes (client, server, database).

The benchmark's client, `workup serve` and PostgreSQL share the machine's cores, so a rate bound by
CPU is explained by what each of them spends per event (bench/run.py), not by wall-clock alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3 on: state, ppid, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of every live descendant, with the children it has waited for."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(entry.name)
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))  # ppid; u,s,cu,cs
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, _) in stats.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(stats[member][1] for member in tree if member in stats) / ticks


def postmaster_pid(engine) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (the parent of a backend)."""
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        return int(_stat(backend)[1])
    except OSError:
        return None  # a server elsewhere: its CPU is not measured


@contextmanager
def cpu_spent(server_pid: int, postmaster: int | None) -> Iterator[dict[str, float | None]]:
    """CPU seconds spent in the block by this process (the client), the server's process tree and
    PostgreSQL's (every backend, with the background processes); fill the dict's values on exit."""
    spent: dict[str, float | None] = {}
    client, server = time.process_time(), cpu_seconds(server_pid)
    database = cpu_seconds(postmaster) if postmaster else None
    yield spent
    spent["client"] = time.process_time() - client
    spent["server"] = cpu_seconds(server_pid) - server
    spent["postgres"] = None if database is None else cpu_seconds(postmaster) - database  # type: ignore[arg-type]
