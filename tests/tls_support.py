"""A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost, made with `openssl`,
and TLS mail servers (aiosmtpd) on loopback that use them: STARTTLS required, or implicit TLS."""

from __future__ import annotations

import email
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class TestCA:
    ca_file: Path  # the CA certificate a client trusts (WORKUP_SMTP_CA_FILE)
    cert_file: Path  # the server's certificate, signed by the CA, for 127.0.0.1 and localhost
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_ca(folder: Path, name: str = "Workup Test CA") -> TestCA:
    """A CA and a server certificate signed by it (subjectAltName IP:127.0.0.1, DNS:localhost)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")  # fmt: skip
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")  # fmt: skip
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


@dataclass
class Received:
    recipients: list[str]
    message: Message
    tls: bool  # the session was encrypted when the message came

    @property
    def text(self) -> str:
        """The text part (the body), decoded."""
        part = next(part for part in self.message.walk() if part.get_content_type() == "text/plain")
        return part.get_payload(decode=True).decode()

    def attachments(self) -> list[tuple[str, str, bytes]]:
        """(file name, content type, bytes) of each attachment."""
        return [
            (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in self.message.walk()
            if part.get_content_disposition() == "attachment"
        ]


@dataclass
class TLSMailSink:
    """A real SMTP server on loopback: `starttls` (STARTTLS required before MAIL), `implicit` (TLS from the
    first byte) or `plain` (no TLS at all), keeping what it receives."""

    port: int
    ca: TestCA
    mode: str = "starttls"
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.original_content or envelope.content)
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(list(envelope.rcpt_tos), parsed, encrypted))
        return "250 Message accepted"

    def start(self) -> None:
        options: dict = {}
        if self.mode == "starttls":
            options = {"tls_context": self.ca.server_context(), "require_starttls": True}
        elif self.mode == "implicit":
            options = {"ssl_context": self.ca.server_context()}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
