"""MSH-18, the character set a message is written in (HL7 table 0211), as a Python codec.

Supported: ASCII, the ISO 8859 parts (8859/1 to 8859/9 and 8859/15, also spelled ISO IR100 etc.),
and UTF-8 ("UNICODE UTF-8", "ISO IR192", and the common "UTF-8"). UTF-16 and UTF-32 are refused:
their bytes cannot carry MLLP framing or segment terminators as single bytes. Only the first
repetition of MSH-18 counts (later ones name alternate sets for escape switching, which the
intake does not do).

An empty MSH-18 means ASCII in the standard, but real feeds leave it empty and send Latin-1 or
UTF-8. The intake reads such a message as UTF-8 when its bytes are valid UTF-8 (text in Latin-1
with accented letters almost never is), else as ISO 8859-1, which reads any byte; the message log
records which one was used.
"""

from __future__ import annotations

import re

DEFAULT_CODECS = ("utf-8", "iso8859-1")  # MSH-18 empty: the first that reads the bytes

_ISO_8859 = {"1": 100, "2": 101, "3": 109, "4": 110, "5": 144, "6": 127, "7": 126, "8": 138, "9": 148, "15": 203}


def _table() -> dict[str, str]:
    names = {"ASCII": "ascii", "ISO IR6": "ascii", "UNICODE UTF-8": "utf-8", "ISO IR192": "utf-8", "UTF-8": "utf-8",
             "UTF8": "utf-8"}  # fmt: skip
    for part, registration in _ISO_8859.items():
        codec = f"iso8859-{part}"
        names |= {f"8859/{part}": codec, f"ISO IR{registration}": codec, f"ISO-8859-{part}": codec,
                  f"ISO8859-{part}": codec}  # fmt: skip
    return names


CHARSETS: dict[str, str] = _table()


def normalised(declared: str) -> str:
    return re.sub(r"\s+", " ", declared.strip()).upper()


def codec_for(declared: str) -> str | None:
    """The codec for an MSH-18 value, or None when it is not one the intake reads."""
    return CHARSETS.get(normalised(declared))


def supported_names() -> str:
    return "ASCII, 8859/1 to 8859/9, 8859/15, UNICODE UTF-8"
