"""HL7 files as RIS exports write them, split into one message each (`workup hl7 import`).

A file holds one message or many: MLLP-framed (0x0B ... 0x1C 0x0D, whitespace between blocks),
or one after another, each starting at its MSH segment, with CR, LF or CRLF line ends. Batch and
file headers and trailers (FHS, BHS, BTS, FTS) are left out. Each message is returned as the bytes
it was in the file (its own character set, from its own MSH-18, is read later). Anything else
before the first MSH, or outside the MLLP blocks, is refused naming where it is.
"""

from __future__ import annotations

import re

from tracking.cases.errors import InvalidInput

START, END = b"\x0b", b"\x1c"
LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")
ENVELOPE = (b"FHS", b"FTS", b"BHS", b"BTS")


def split_messages(data: bytes, *, name: str) -> list[bytes]:
    """The messages in a file's bytes; refuses (InvalidInput, naming the file) when there are none."""
    if START in data:
        messages = [message for block in _blocks(data, name=name) for message in _unframed(block, name=name)]
    else:
        messages = _unframed(data, name=name)
    if not messages:
        raise InvalidInput(f"{name}: no HL7 message found (a message starts with an MSH segment)")
    return messages


def _blocks(data: bytes, *, name: str) -> list[bytes]:
    blocks = []
    position = 0
    while position < len(data):
        start = data.find(START, position)
        between = data[position : len(data) if start < 0 else start]
        if between.strip():
            raise InvalidInput(f"{name}: bytes outside the MLLP blocks at offset {position}")
        if start < 0:
            break
        end = data.find(END, start + 1)
        if end < 0:
            raise InvalidInput(f"{name}: the MLLP block at offset {start} has no end (0x1C)")
        blocks.append(data[start + 1 : end])
        position = end + 1
        if data[position : position + 1] == b"\r":
            position += 1
    return blocks


def _unframed(data: bytes, *, name: str) -> list[bytes]:
    messages: list[bytearray] = []
    line_number = 0
    for match in LINE.finditer(data):
        line = match.group(0)
        if not line:
            break
        line_number += 1
        content = line.strip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf")
        if content[:3] in ENVELOPE or (not content and not messages):
            continue
        if content.startswith(b"MSH"):
            messages.append(bytearray())
        elif not messages:
            raise InvalidInput(f"{name}: line {line_number} comes before any MSH segment")
        messages[-1] += line
    return [bytes(message) for message in messages]
