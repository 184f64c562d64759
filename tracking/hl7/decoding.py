"""Bytes from the wire into an hl7.Message, or a Problem that says why not (and what to answer).

What the intake accepts from real feeds:

- segment terminators CR, LF or CRLF (normalised to CR before parsing; a blank line is skipped);
- leading and trailing whitespace, and a UTF-8 byte-order mark;
- the character set from MSH-18 (tracking/hl7/charsets.py; empty: UTF-8, else ISO 8859-1);
- Z-segments anywhere: kept in the stored bytes, left out of the message the interpreter reads;
- escape sequences (\\F\\, \\S\\, \\T\\, \\R\\, \\E\\, \\X..\\, \\.br\\) are left as they are in the
  parsed message: read values with `message.unescape(...)`, or through python-hl7's accessors
  (`message["PID.F5.R1.C1"]`), which unescape. `patient_identifiers` reads every PID-3 repetition.

What it refuses (answered AR, table 0357 codes): no MSH first (100), a line inside the message that
does not start with a segment id, usually a raw line break inside a field (100), more than one
message or batch headers in one block (100), bad encoding characters (102), bytes that are not
the declared character set (102), an unknown MSH-18 (103), an empty MSH-9, MSH-10 or MSH-12 (101),
a version other than 2.x (203).

A Problem's text never quotes the message's content beyond the header's codes (MSH-9, MSH-10,
MSH-12, MSH-18): it goes into the ACK, the message log and the logs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import hl7

from tracking.hl7.charsets import DEFAULT_CODECS, codec_for, supported_names

BOM = b"\xef\xbb\xbf"
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
BATCH_SEGMENTS = ("FHS", "FTS", "BHS", "BTS")
DEFAULT_SEPARATOR = "|"
DEFAULT_ENCODING = "^~\\&"
MAX_SENDER_PART = 100
MAX_CONTROL_ID = 199
MAX_CODE = 20  # message type, trigger event, version: short codes
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    """Why a message is refused: an HL7 table 0357 code, a sentence, and where (segment^sequence^field)."""

    code: int
    text: str
    location: str = ""


class Malformed(Exception):
    """The message cannot be read. `header` is what could be read of MSH, to answer with, in `codec`
    (ISO 8859-1 before the character set is known: each byte one character, so an answer encoded
    in it gives back the header's bytes exactly)."""

    def __init__(self, problem: Problem, header: Header | None = None, codec: str = "iso8859-1"):
        self.problem = problem
        self.header = header
        self.codec = codec
        super().__init__(problem.text)


def _unescape(value: str, separator: str, encoding: str) -> str:
    """The delimiter escapes of one header value (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\); others are left as they are."""
    if len(encoding) < 3:
        return value
    escape = encoding[2]
    if escape not in value:
        return value
    names = {"F": separator, "S": encoding[0], "R": encoding[1], "E": escape}
    if len(encoding) > 3:
        names["T"] = encoding[3]
    pattern = re.compile(re.escape(escape) + "([FSRTE])" + re.escape(escape))
    return pattern.sub(lambda match: names.get(match.group(1), match.group(0)), value)


@dataclass(frozen=True)
class Header:
    """MSH as written: fields[n] is MSH-n (fields[1] the field separator, fields[2] the encoding characters)."""

    fields: tuple[str, ...] = field(default=("MSH", DEFAULT_SEPARATOR, DEFAULT_ENCODING))

    @classmethod
    def from_segment(cls, text: str) -> Header | None:
        """MSH read from its segment's text; None when it is not an MSH segment at all."""
        if not text.startswith("MSH") or len(text) < 5:
            return None
        separator = text[3]
        if separator.isalnum() or separator.isspace():
            return None
        rest = text[4:].split(separator)
        return cls(("MSH", separator, rest[0], *rest[1:]))

    def raw(self, number: int) -> str:
        """MSH-`number` as written (escapes intact): what an ACK echoes."""
        return self.fields[number] if number < len(self.fields) else ""

    @property
    def separator(self) -> str:
        return self.fields[1]

    @property
    def encoding(self) -> str:
        return self.fields[2]

    def component(self, number: int, index: int = 1) -> str:
        """Component `index` of the first repetition of MSH-`number`, unescaped."""
        value = self.raw(number)
        if len(self.encoding) > 1:
            value = value.split(self.encoding[1])[0]
        if self.encoding:
            parts = value.split(self.encoding[0])
            value = parts[index - 1] if index <= len(parts) else ""
        return _unescape(value, self.separator, self.encoding).strip()

    @property
    def sender(self) -> str:
        """MSH-3^MSH-4 (their first components): the sending system whose control ids are unique."""
        return f"{self.component(3)}^{self.component(4)}"

    @property
    def control_id(self) -> str:
        return self.component(10)

    @property
    def message_type(self) -> str:
        return self.component(9, 1)

    @property
    def trigger_event(self) -> str:
        return self.component(9, 2)

    @property
    def version(self) -> str:
        return self.component(12)

    @property
    def charset(self) -> str:
        return self.component(18)

    @property
    def valid_encoding(self) -> bool:
        chars = self.encoding
        return (
            2 <= len(chars) <= 5
            and len(set(chars)) == len(chars)
            and self.separator not in chars
            and not any(char.isalnum() or char.isspace() for char in chars)
        )


@dataclass(frozen=True)
class Decoded:
    """A message that could be read. `fields` is what the interpreter reads (tracking/hl7/reading.py):
    each segment split into its fields' text only, which costs a tenth of python-hl7's full parse;
    `message` is the full parse, made when asked for (python-hl7's accessors, `message["PID.F5"]`)."""

    fields: hl7.Message  # Z-segments left out; each field its text as sent (escape sequences intact)
    header: Header
    codec: str  # the Python codec the bytes were read with
    z_segments: int = 0
    text: str = ""  # the segments kept, joined by CR

    @functools.cached_property
    def message(self) -> hl7.Message:
        return hl7.parse(self.text)

    @property
    def sender(self) -> str:
        return self.header.sender

    @property
    def control_id(self) -> str:
        return self.header.control_id


@dataclass(frozen=True)
class PatientIdentifier:
    """One PID-3 repetition (CX): the identifier, its assigning authority (CX-4) and type code (CX-5)."""

    value: str
    authority: str
    type_code: str


def normalise_terminators(data: bytes) -> bytes:
    """CRLF and LF as CR, the HL7 segment terminator (safe in every supported character set)."""
    return data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")


def trimmed(raw: bytes) -> bytes:
    return raw.strip(b" \t\r\n").removeprefix(BOM).lstrip(b" \t\r\n")


def read_header(raw: bytes) -> Header | None:
    """MSH read byte for byte (ISO 8859-1 maps each byte to one character), before the character set is known."""
    data = normalise_terminators(trimmed(raw))
    return Header.from_segment(data.split(b"\r", 1)[0].decode("iso8859-1"))


def decode(raw: bytes) -> Decoded:
    """The message in `raw` (one message, without MLLP framing); raises Malformed."""
    data = normalise_terminators(trimmed(raw))
    if not data:
        raise Malformed(Problem(100, "The message is empty."))
    header = Header.from_segment(data.split(b"\r", 1)[0].decode("iso8859-1"))
    if header is None:
        raise Malformed(Problem(100, "The message does not begin with an MSH segment.", "MSH^1"))
    if not header.valid_encoding:
        raise Malformed(Problem(102, "MSH-2 does not hold valid encoding characters.", "MSH^1^2"), header)
    codec, text = _decoded_text(data, header)
    header = Header.from_segment(text.split("\r", 1)[0]) or header
    try:
        _check_header(header)
        kept, z_segments = _segments(text, header)
    except Malformed as malformed:
        raise Malformed(malformed.problem, header, codec) from None
    return Decoded(fields=split_fields(kept, header), header=header, codec=codec, z_segments=z_segments,
                   text="\r".join(kept))  # fmt: skip


def split_fields(segments: list[str], header: Header) -> hl7.Message:
    """The segments as python-hl7 containers one level deep: segment[n] is field n's text as sent
    (MSH-1 and MSH-2 included, as python-hl7 numbers them), with the message's separators, so
    `message.unescape` and the Reader work as on a full parse."""
    encoding = header.encoding
    separators = "\r" + header.separator + (encoding[1:2] or "~") + (encoding[0:1] or "^") + (encoding[3:4] or "&")
    escape = encoding[2:3] or "\\"
    parsed = []
    for text in segments:
        values = text.split(header.separator)
        if values[0] == "MSH":
            values = ["MSH", header.separator, *values[1:]]
        parsed.append(hl7.Segment(header.separator, values, esc=escape, separators=separators))
    return hl7.Message("\r", parsed, esc=escape, separators=separators)


def _decoded_text(data: bytes, header: Header) -> tuple[str, str]:
    declared = header.charset
    if declared:
        codec = codec_for(declared)
        if codec is None:
            shown = CONTROL.sub(" ", declared)[:40]
            raise Malformed(Problem(103, f"MSH-18 character set {shown!r} is not supported "
                                         f"(supported: {supported_names()}).", "MSH^1^18"), header)  # fmt: skip
        try:
            return codec, data.decode(codec)
        except UnicodeDecodeError as error:
            raise Malformed(Problem(102, f"Byte {error.start + 1} is not valid {declared} as MSH-18 declares.",
                                    "MSH^1^18"), header) from None  # fmt: skip
    for codec in DEFAULT_CODECS:
        try:
            return codec, data.decode(codec)
        except UnicodeDecodeError:
            continue
    raise AssertionError("ISO 8859-1 reads any byte")  # pragma: no cover


def _check_header(header: Header) -> None:
    required = ((9, header.message_type, "message type"), (10, header.control_id, "message control id"),
                (12, header.version, "version id"))  # fmt: skip
    for number, value, name in required:
        if not value:
            raise Malformed(Problem(101, f"MSH-{number} ({name}) is empty.", f"MSH^1^{number}"), header)
    limits = ((3, header.component(3), MAX_SENDER_PART), (4, header.component(4), MAX_SENDER_PART),
              (9, header.message_type, MAX_CODE), (9, header.trigger_event, MAX_CODE),
              (10, header.control_id, MAX_CONTROL_ID), (12, header.version, MAX_CODE))  # fmt: skip
    for number, value, limit in limits:
        if len(value) > limit:
            raise Malformed(Problem(102, f"MSH-{number} is longer than {limit} characters.", f"MSH^1^{number}"), header)
        if CONTROL.search(value):
            raise Malformed(Problem(102, f"MSH-{number} holds a control character.", f"MSH^1^{number}"), header)
    if not re.fullmatch(r"2\.\d+(\.\d+)*", header.version):
        shown = header.version[:MAX_CODE]
        raise Malformed(Problem(203, f"HL7 version {shown!r} is not supported (version 2 only).", "MSH^1^12"), header)


def _segments(text: str, header: Header) -> tuple[list[str], int]:
    """The segments to parse (blank lines and Z-segments left out), and how many Z-segments there were."""
    kept: list[str] = []
    z_segments = 0
    for number, segment in enumerate((part for part in text.split("\r") if part.strip()), start=1):
        segment_id = segment[:3]
        if not SEGMENT_ID.fullmatch(segment_id) or segment[3:4] not in ("", header.separator):
            raise Malformed(Problem(100, f"Segment {number} does not begin with a segment id "
                                         "(a line break inside a field?)."), header)  # fmt: skip
        if segment_id in BATCH_SEGMENTS or (segment_id == "MSH" and number > 1):
            raise Malformed(Problem(100, f"Segment {number} ({segment_id}) starts another message or a batch: "
                                         "send one message at a time (batch files: workup hl7 import).",
                                    f"{segment_id}^1"), header)  # fmt: skip
        if segment_id.startswith("Z"):
            z_segments += 1
            continue
        kept.append(segment)
    return kept, z_segments


def patient_identifiers(message: hl7.Message) -> list[PatientIdentifier]:
    """Every PID-3 repetition of the message's first PID, unescaped; empty when there is no PID."""
    try:
        pid = message.segment("PID")
    except KeyError:
        return []
    if len(pid) <= 3:
        return []
    _, _, repetition, component, subcomponent = message.separators
    identifiers = []
    for text in str(pid(3)).split(repetition):
        parts = text.split(component) + ["", "", "", "", ""]
        value = message.unescape(parts[0]).strip()
        if value:
            authority = message.unescape(parts[3].split(subcomponent)[0]).strip()
            identifiers.append(PatientIdentifier(value, authority, message.unescape(parts[4]).strip()))
    return identifiers
