"""What became of a received message: the contract between the intake (store, acknowledge) and the
interpreter (map a message to a case and apply it, or queue it for a person to review)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MessageOutcome(StrEnum):
    applied = "applied"  # mapped to exactly one open step of one case and recorded through the engine
    queued = "queued"  # kept in the HL7 inbox for a navigator or radiologist to confirm
    ignored = "ignored"  # not something the tracker follows (e.g. a screening exam with no case)
    rejected = "rejected"  # malformed or unsupported: answered AR, kept for the log


@dataclass(frozen=True)
class Interpretation:
    outcome: MessageOutcome
    detail: str  # plain words for the message log; ids and codes only, never a name or an MRN
    case_id: int | None = None
    inbox_item_id: int | None = None
