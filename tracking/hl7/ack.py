"""The ACK (original acknowledgement mode) for a received message.

MSH swaps the sender and the receiver (MSH-3/4 <-> MSH-5/6), keeps the message's delimiters,
processing id, version and MSH-18, and names the trigger event; MSA-1 is AA, AE or AR and MSA-2
echoes MSH-10 as written. AE and AR carry an ERR segment with an HL7 table 0357 code and a
sentence: ERR-2 (location), ERR-3 (code), ERR-4 severity E and ERR-8 (the sentence) from version
2.5 on; ERR-1 (code and location) before 2.5, with the sentence in MSA-3 too. The ACK is encoded in
the character set the message was read in; a message that could not be read is answered in ISO
8859-1, which gives back the bytes of its header exactly as they came.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from tracking.hl7.decoding import Header, Problem

TABLE_0357 = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    203: "Unsupported version id",
    207: "Application internal error",
}
DEFAULT_VERSION = "2.5.1"
TRANSPARENT = "iso8859-1"


class AckCode(StrEnum):
    accepted = "AA"
    error = "AE"  # parsed but not stored: the sender sends it again
    rejected = "AR"  # malformed or unsupported: sending it again will not help


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3]) or (2, 5, 1)


def escaped(text: str, separator: str, encoding: str) -> str:
    """`text` safe inside one field: delimiters as escape sequences, line breaks as spaces."""
    component, repetition, escape = encoding[0], encoding[1], encoding[2]
    subcomponent = encoding[3] if len(encoding) > 3 else None
    text = re.sub(r"[\r\n]+", " ", text).replace(escape, f"{escape}E{escape}")
    pairs = [(separator, "F"), (component, "S"), (repetition, "R")] + ([(subcomponent, "T")] if subcomponent else [])
    for char, name in pairs:
        text = text.replace(char, f"{escape}{name}{escape}")
    return text


def acknowledgement(
    header: Header | None,
    code: AckCode,
    *,
    now: datetime,
    codec: str = TRANSPARENT,
    problem: Problem | None = None,
    echo_charset: bool = True,
) -> bytes:
    """The ACK's bytes. `header` is what could be read of the message's MSH (None: nothing could)."""
    readable = header is not None and header.valid_encoding
    theirs = header if readable else Header()
    separator, encoding = theirs.separator, theirs.encoding
    component = encoding[0]

    def echo(number: int) -> str:  # a field as they wrote it; escaped again if their delimiters are unusable
        if header is None:
            return ""
        return header.raw(number) if readable else escaped(header.raw(number), separator, encoding)

    version = theirs.version if re.fullmatch(r"2\.\d+(\.\d+)*", theirs.version or "") else DEFAULT_VERSION
    trigger = theirs.trigger_event if readable else ""
    message_type = component.join(["ACK", escaped(trigger, separator, encoding), "ACK"]) if trigger else "ACK"
    msh = ["MSH", echo(5), echo(6), echo(3), echo(4), now.astimezone(UTC).strftime("%Y%m%d%H%M%S"), "",
           message_type, f"ACK{uuid.uuid4().hex[:17].upper()}", echo(11) or "P", version, "", "", "", "", "",
           echo(18) if echo_charset and readable else ""]  # fmt: skip
    while msh[-1] == "":
        msh.pop()
    segments = [f"MSH{separator}{encoding}{separator}" + separator.join(msh[1:])]
    msa = ["MSA", code.value, echo(10)]
    modern = _version_tuple(version) >= (2, 5)
    if problem is not None and not modern:
        msa.append(escaped(problem.text, separator, encoding))
    segments.append(separator.join(msa))
    if problem is not None:
        segments.append(separator.join(_err(problem, separator, encoding, modern=modern)))
    return ("\r".join(segments) + "\r").encode(codec, errors="replace")


def _err(problem: Problem, separator: str, encoding: str, *, modern: bool) -> list[str]:
    component = encoding[0]
    subcomponent = encoding[3] if len(encoding) > 3 else "&"
    name = TABLE_0357.get(problem.code, "Application internal error")
    location = problem.location.replace("^", component)
    if modern:
        coded = component.join([str(problem.code), name, "HL70357"])
        return ["ERR", "", location, coded, "E", "", "", "", escaped(problem.text, separator, encoding)]
    parts = (problem.location.split("^") + ["", "", ""])[:3]
    coded = subcomponent.join([str(problem.code), name, "HL70357"])
    return ["ERR", component.join([*parts, coded])]
