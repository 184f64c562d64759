"""Benchmark (b): record_event through the service and through the HTTP API at 1, 8 and 32 clients."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import Session

from bench.latency import Latencies, timed_calls
from tracking.cases.recording import record_event

READS = [
    {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"},
    {"birads": "3", "morphology": "round", "distribution": "grouped"},
]


def cases_awaiting_magnification(url: str, count: int) -> list[int]:
    """Up to `count` cases whose magnification views are still open (each takes one event)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = (
            connection.execute(
                text(
                    "SELECT DISTINCT case_id FROM steps WHERE kind = 'magnification_views' "
                    "AND status IN ('pending', 'scheduled') ORDER BY case_id LIMIT :count"
                ),
                {"count": count},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return list(rows)


def through_service(url: str, case_ids: list[int]) -> Latencies:
    """One event per case, each in its own transaction, as a command or request would."""
    engine = create_engine(url, pool_size=2)

    def call(index: int) -> bool:
        with Session(engine) as session:
            record_event(session, case_ids[index], "magnification_result", READS[index % 2], actor="bench",
                         now=datetime.now(UTC))  # fmt: skip
            session.commit()
        return True

    result = timed_calls(call, len(case_ids))
    engine.dispose()
    return result


def through_http(base_url: str, token: str, case_ids: list[int], concurrency: int) -> Latencies:
    """One event per case over HTTP, `concurrency` clients each with its own keep-alive connection."""
    local = threading.local()

    def call(index: int) -> bool:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response = local.client.post(
            f"/api/cases/{case_ids[index]}/events",
            json={"kind": "magnification_result", "data": READS[index % 2]},
            headers={"Idempotency-Key": f"bench-{case_ids[index]}"},
        )
        return response.status_code == 201

    return timed_calls(call, len(case_ids), concurrency)


def _captured(url: str, case_ids: list[int]) -> list:
    """The statements record_event sends for one event on each case (each captured, then rolled back)."""
    from bench import bare

    engine = create_engine(url, pool_size=2)

    def one(index: int):
        return lambda session: record_event(session, case_ids[index], "magnification_result", READS[index % 2],
                                            actor="bench", now=datetime.now(UTC))  # fmt: skip

    batches = [bare.capture(engine, one(index)) for index in range(len(case_ids))]
    engine.dispose()
    return batches


def bare_sql(url: str, case_ids: list[int], concurrency: int = 1) -> Latencies:
    """The floor of (b): the same statements record_event sends, each event's in its own committed
    transaction, replayed on plain psycopg connections (no ORM, no pathway engine, no HTTP)."""
    from bench import bare

    return bare.replay(url, _captured(url, case_ids), commit=True, concurrency=concurrency)
