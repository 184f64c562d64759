"""Benchmark (c): the worklist page and /api/overdue, p50/p95, against `workup serve`."""

from __future__ import annotations

import re

import httpx

from bench.latency import Latencies, timed_calls


def signed_in(base_url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    form = client.get("/login").text  # the sign-in form carries its own CSRF token (and sets its cookie)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    if response.status_code not in (200, 303) or "workup_session" not in client.cookies:
        raise RuntimeError(f"could not sign in as {username}: {response.status_code}")
    return client


def worklist_page(client: httpx.Client, count: int) -> Latencies:
    client.get("/worklist")  # warm up
    return timed_calls(lambda _: client.get("/worklist").status_code == 200, count)


def overdue_api(base_url: str, token: str, count: int) -> Latencies:
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    client.get("/api/overdue")
    return timed_calls(lambda _: client.get("/api/overdue").status_code == 200, count)


def worklist_bare_sql(url: str, count: int) -> Latencies:
    """The floor of `GET /worklist`: the statements worklist_page sends for the navigator's default
    view (the count and the page), replayed on a plain psycopg connection, each time rolled back."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from bench import bare
    from tracking.cases.patient_worklist import PatientFilters, worklist_page

    engine = create_engine(url, pool_size=1)
    statements = bare.capture(
        engine, lambda session: worklist_page(session, datetime.now(UTC), PatientFilters(), page=1, page_size=50)
    )
    engine.dispose()
    bare.replay(url, [statements], commit=False)  # warm up
    return bare.replay(url, [statements] * count, commit=False)
