"""Fixtures for flows: Prefect's test harness, a real SMTP server and a real webhook receiver on loopback.

`configure` (WORKUP_* settings for one test) is in tests/conftest.py.
"""

from __future__ import annotations

import email
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness, once per session, with the flow heartbeat thread off."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        return self.message.get_payload(decode=True).decode()


@dataclass
class MailSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    controller: Controller | None = None
    refuse: set[str] = field(default_factory=set)  # recipients answered "550 no such mailbox"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.original_content or envelope.content)
        self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> list[str]:
        return [mail.message["Message-ID"] for mail in self.received]


@pytest.fixture
def smtp(configure) -> Iterator[MailSink]:
    sink = MailSink(port=free_port())
    sink.start()
    configure(WORKUP_SMTP_HOST="127.0.0.1", WORKUP_SMTP_PORT=sink.port, WORKUP_MAIL_FROM="workup@center.test")
    yield sink
    sink.stop()


@dataclass
class WebhookSink:
    """A real HTTP server on loopback that records JSON posts and answers `status`."""

    server: ThreadingHTTPServer
    received: list[tuple[dict, dict]] = field(default_factory=list)
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink: WebhookSink

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if sink.status < 300:
                sink.received.append((dict(self.headers), body))
            self.send_response(sink.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink = WebhookSink(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
