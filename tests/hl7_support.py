"""Shared helpers for the HL7 tests: the corpus, building messages, MLLP over a socket, reading ACKs."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import hl7

from tracking.hl7.interpretation import Interpretation, MessageOutcome

CORPUS = Path(__file__).parent / "hl7_corpus"
START, END = b"\x0b", b"\x1c\r"


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def message(control_id: str, *, sender: str = "RIS|NORTHSIDE", kind: str = "ORU^R01^ORU_R01", version: str = "2.5.1",
            charset: str = "", body: tuple[str, ...] = ("PID|1||MRN9^^^NORTHSIDE^MR",)) -> bytes:  # fmt: skip
    """A small message; `charset` goes in MSH-18 and picks the encoding of the bytes."""
    msh = f"MSH|^~\\&|{sender}|WORKUP|RIVERSIDE|20260302090000||{kind}|{control_id}|P|{version}"
    if charset:
        msh += "||||||" + charset
    codec = {"8859/1": "latin-1", "UNICODE UTF-8": "utf-8"}.get(charset, "utf-8")
    return ("\r".join([msh, *body]) + "\r").encode(codec)


def parse_ack(ack: bytes, codec: str = "latin-1") -> hl7.Message:
    return hl7.parse(ack.decode(codec))


def ack_code(ack: bytes) -> str:
    return parse_ack(ack)["MSA.F1"]


def echoed_control_id(ack: bytes) -> str:
    return parse_ack(ack)["MSA.F2"]


@dataclass
class FakeInterpreter:
    """Records what it was given and answers with `result` (or raises `error`)."""

    result: Interpretation = field(
        default_factory=lambda: Interpretation(MessageOutcome.applied, "applied by the test")
    )
    error: BaseException | None = None
    calls: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, session, message, *, message_id, sender, now):
        with self.lock:
            self.calls.append({"message": message, "message_id": message_id, "sender": sender, "now": now})
        if self.error is not None:
            raise self.error
        return self.result


class MllpClient:
    """A sender over a real socket: send one framed message, read its framed ACK."""

    def __init__(self, address: tuple[str, int], timeout: float = 30.0):
        self.socket = socket.create_connection(address, timeout=timeout)
        self.buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.socket.sendall(data)

    def read_block(self) -> bytes | None:
        """The next ACK without its framing; None when the listener closed the connection."""
        while END not in self.buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        block, _, self.buffer = self.buffer.partition(END)
        assert block.startswith(START), block[:20]
        return block[1:]

    def exchange(self, raw: bytes) -> bytes:
        self.send_raw(START + raw + END)
        ack = self.read_block()
        assert ack is not None, "the listener closed the connection without an ACK"
        return ack

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *_) -> None:
        self.close()
