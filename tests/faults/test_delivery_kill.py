"""SIGKILL the outbox delivery worker 3 times at random points while it talks to a real SMTP server.

Delivery holds a row lock per notification while sending and commits once the server accepted it.
A kill therefore leaves at most the one message in flight accepted-but-not-committed; the next run
sends it again with the same Message-ID (so the receiver can recognise it), and nothing is lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.faults.conftest import free_port, kill, wait_for, worker
from tests.flows.conftest import MailSink
from tracking.notify.channels import message_id
from tracking.notify.delivery import deliver_due
from tracking.notify.outbox import enqueue
from tracking.notify.recipients import Recipient

pytestmark = pytest.mark.faults

MESSAGES = 60
KILLS = 3
SECONDS_PER_MESSAGE = 0.03

DELIVERY_WORKER = """
import sys
from datetime import datetime
from tracking.db import get_engine
from tracking.notify.delivery import deliver_due
deliver_due(get_engine(), datetime.fromisoformat(sys.argv[1]))
"""


class SlowMailSink(MailSink):
    """Takes a moment per message, so a kill can land anywhere in a delivery run."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await asyncio.sleep(SECONDS_PER_MESSAGE)
        return await super().handle_DATA(server, session, envelope)


def statuses(engine) -> dict[str, set[str]]:
    """dedupe keys by notification status, as committed."""
    found: dict[str, set[str]] = {}
    with engine.connect() as connection:
        for status, key in connection.execute(text("SELECT status, dedupe_key FROM notifications")).all():
            found.setdefault(status, set()).add(key)
    return found


def test_sigkill_during_delivery_three_times_then_rerun_delivers_each_once(committed, now, configure):
    sink = SlowMailSink(port=free_port())
    sink.start()
    configure(WORKUP_SMTP_HOST="127.0.0.1", WORKUP_SMTP_PORT=sink.port, WORKUP_MAIL_FROM="workup@center.test")
    try:
        with Session(committed) as session:
            for number in range(MESSAGES):
                enqueue(
                    session, kind="event_warning", recipients=[Recipient("email", f"nav{number}@center.test")],
                    dedupe_key=f"kill:{number}", now=now, payload={"event": "assessment"},
                )  # fmt: skip
            session.commit()
        keys = statuses(committed)["pending"]
        assert len(keys) == MESSAGES
        for kills in range(1, KILLS + 1):
            process = worker(DELIVERY_WORKER, now.isoformat())
            target = len(sink.received) + random.randint(2, 10)
            wait_for(lambda target=target: len(sink.received) >= target, process)
            time.sleep(random.uniform(0.0, SECONDS_PER_MESSAGE * 2))  # a random point in the send cycle
            assert kill(process), "the delivery run ended before the kill"
            settled = statuses(committed)
            received = sink.message_ids()
            assert len(settled.get("delivered", ())) < MESSAGES  # it really died part-way
            assert set(settled) <= {"pending", "delivered"}  # a kill is never recorded as a failure
            # Accepted by the server but not yet committed: at most the one message in flight per kill.
            in_flight = set(received) & {message_id(key) for key in settled.get("pending", ())}
            assert len(in_flight) <= kills
            # Everything committed as delivered really reached the server.
            assert {message_id(key) for key in settled.get("delivered", ())} <= set(received)
            assert len(received) - len(set(received)) <= kills - 1  # repeats so far: only earlier in-flight ones

        deliver_due(committed, now)
        assert statuses(committed) == {"delivered": keys}
        received = sink.message_ids()
        assert set(received) == {message_id(key) for key in keys}
        # A repeat carries the same Message-ID, so the receiver recognises it; each kill can cause at
        # most one (its message in flight), and no message arrives more than once per kill.
        assert len(received) - len(set(received)) <= KILLS
        assert max(Counter(received).values()) <= 1 + KILLS
    finally:
        sink.stop()
