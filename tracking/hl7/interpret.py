"""interpret(): what one received HL7 v2 message means for a case, applied when that is safe,
otherwise queued in the HL7 inbox for a person (the contract: tracking/hl7/interpretation.py).

The message is already stored and parsed by the intake, which calls this inside its transaction (a
savepoint): everything here flushes, nothing commits. A business refusal (an unknown patient, two
candidate cases, a field missing, a guard refusal) never raises: it becomes an inbox item with its
reason. Messages from senders or of types the mapping does not accept are rejected; messages about
things the tracker does not follow are ignored, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import hl7
from sqlmodel import Session

from tracking.hl7.context import Context
from tracking.hl7.demographics import handle_demographics, handle_merge
from tracking.hl7.interpretation import Interpretation, MessageOutcome
from tracking.hl7.mapping import current_mapping
from tracking.hl7.orders import handle_order
from tracking.hl7.reading import Reader
from tracking.hl7.results import handle_result
from tracking.hl7.scheduling import handle_schedule

ACTOR_MAX = 120  # case_events.actor
HANDLERS: dict[str, Callable[[Context], Interpretation]] = {
    "ORM^O01": handle_order,
    "OMI^O23": handle_order,
    "ORU^R01": handle_result,
    "SIU^S12": handle_schedule,
    "SIU^S13": handle_schedule,
    "SIU^S14": handle_schedule,
    "SIU^S15": handle_schedule,
    "SIU^S26": handle_schedule,
    "ADT^A08": handle_demographics,
    "ADT^A31": handle_demographics,
    "ADT^A40": handle_merge,
}


def interpret(session: Session, message: hl7.Message, *, message_id: int, sender: str, now: datetime) -> Interpretation:
    """Map one message to what it means for a case; apply it, queue it, ignore it or reject it."""
    mapping = current_mapping()
    reader = Reader(message)
    application = reader.sending_application()
    if application not in mapping.senders:
        shown = application[:40] or "(none)"
        return Interpretation(MessageOutcome.rejected, f"sending application {shown} (MSH-3) is not accepted")
    kind = reader.message_type()
    handler = HANDLERS.get(kind)
    if handler is None or kind not in mapping.message_types:
        return Interpretation(MessageOutcome.rejected, f"message type {kind[:20]} (MSH-9) is not handled")
    actor = f"hl7:{(sender or application).strip()}"[:ACTOR_MAX]
    return handler(Context(session, reader, mapping, message_id, actor, now))
