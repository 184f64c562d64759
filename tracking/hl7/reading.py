"""Reading fields out of a parsed HL7 v2 message (python-hl7), whatever the feed's quirks.

python-hl7 nests a field differently depending on whether it holds repetitions or components, so
every value here is read from the field's text and split with the message's own separators
(MSH-1, MSH-2), then unescaped (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and hex). Fields past the end of a
segment, missing segments and empty components read as "". An HL7 null ("") reads as "".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import hl7

from tracking.cases.errors import InvalidInput
from tracking.centre_time import typed_moment

Components = list[str]  # one repetition: its components, unescaped (subcomponents joined by "&")

TIMESTAMP = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2}(?:\.\d{1,4})?)?([+-]\d{4})?$")


class Reader:
    """Typed access to one parsed message."""

    def __init__(self, message: hl7.Message):
        self.message = message
        separators = str(getattr(message, "separators", "\r|~^&"))
        self.repetition = separators[2] if len(separators) > 2 else "~"
        self.component = separators[3] if len(separators) > 3 else "^"
        self.subcomponent = separators[4] if len(separators) > 4 else "&"

    # --- segments ---------------------------------------------------------------------------------
    def segments(self, name: str) -> list[hl7.Segment]:
        return [segment for segment in self.message if str(segment[0]) == name]

    def first(self, name: str) -> hl7.Segment | None:
        found = self.segments(name)
        return found[0] if found else None

    # --- fields -----------------------------------------------------------------------------------
    def raw(self, segment: hl7.Segment | None, number: int) -> str:
        """The field's text as sent (escapes kept), "" when absent."""
        if segment is None or number >= len(segment):
            return ""
        text = str(segment[number])
        return "" if text == '""' else text

    def _split(self, segment: hl7.Segment | None, number: int) -> list[list[str]]:
        """The field's repetitions, each as its components' text as sent (escapes kept)."""
        text = self.raw(segment, number)
        if not text.strip():
            return []
        return [repetition.split(self.component) for repetition in text.split(self.repetition)]

    def repetitions(self, segment: hl7.Segment | None, number: int) -> list[Components]:
        """Each non-empty repetition of a field as its components (the first subcomponent of each,
        unescaped): codes, identifiers, names, numbers. [] when the field is empty."""
        result = []
        for components in self._split(segment, number):
            parts = [self.unescape(part.split(self.subcomponent)[0]) for part in components]
            if any(part.strip() for part in parts):
                result.append(parts)
        return result

    def value(self, segment: hl7.Segment | None, number: int, component: int = 1, repetition: int = 1) -> str:
        """One component (1-based) of one repetition (1-based), unescaped and stripped; "" when absent."""
        found = self.repetitions(segment, number)
        if len(found) < repetition:
            return ""
        parts = found[repetition - 1]
        return parts[component - 1].strip() if len(parts) >= component else ""

    def text(self, segment: hl7.Segment | None, number: int) -> str:
        """A text field whole (report text): repetitions as lines, components joined by spaces,
        subcomponent separators kept as sent (a bare "&" in a sloppy feed's text is text)."""
        lines = []
        for components in self._split(segment, number):
            words = [self.unescape(part).strip() for part in components]
            lines.append(" ".join(word for word in words if word))
        return "\n".join(lines).strip()

    def unescape(self, text: str) -> str:
        if "\\" not in text:
            return text
        try:
            return str(self.message.unescape(text))
        except Exception:  # a malformed escape: keep the text as sent rather than lose it
            return text

    # --- the message header -----------------------------------------------------------------------
    def message_type(self) -> str:
        """MSH-9 as "ORU^R01" (message code and trigger event, upper case)."""
        msh = self.first("MSH")
        return f"{self.value(msh, 9, 1).upper()}^{self.value(msh, 9, 2).upper()}"

    def sending_application(self) -> str:
        return self.value(self.first("MSH"), 3, 1).upper()

    def control_id(self) -> str:
        return self.value(self.first("MSH"), 10, 1)


def hl7_moment(value: str, what: str) -> datetime | None:
    """An HL7 DTM/TS ("YYYYMMDD[HH[MM[SS[.S]]]][+/-ZZZZ]") as UTC; without an offset it is on the
    centre's clock (WORKUP_TIMEZONE). "" is None; anything else malformed raises InvalidInput."""
    text = value.strip()
    if not text:
        return None
    found = TIMESTAMP.match(text)
    if found is None:
        raise InvalidInput(f"{what} is not an HL7 date-time (YYYYMMDDHHMM[SS][+ZZZZ]): {text[:40]!r}")
    year, month, day, hour, minute, second, offset = found.groups()
    seconds = float(second) if second else 0.0
    try:
        wall = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(seconds))
    except ValueError:
        raise InvalidInput(f"{what} is not a real date and time: {text[:40]!r}") from None
    if offset is None:
        return typed_moment(wall.strftime("%Y-%m-%dT%H:%M:%S"), what=what)
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 14 or minutes > 59:
        raise InvalidInput(f"{what} has an impossible time zone offset: {text[:40]!r}")
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return wall.replace(tzinfo=zone).astimezone(UTC)
