"""Receive one HL7 message: read it, keep it, have it interpreted, and answer with its ACK.

The order is what makes it safe to answer AA:

1. Read the bytes (tracking/hl7/decoding.py). Malformed or unsupported: keep it as rejected when
   the database takes it, and answer AR with an ERR segment (sending it again will not help).
2. Store it, in its own transaction, before anything is done with it. A message whose sender and
   control id were stored before (and not rejected) is a duplicate: counted on the first one,
   answered AA, never interpreted again. Two connections delivering the same message at once
   meet at the unique index; the second waits for the first and finds it.
3. Interpret it in the same transaction, and record the outcome on the stored row. If the
   interpreter raises (a bug, a guard refusal it did not expect), the whole transaction is rolled
   back and the message is stored again, on its own, as queued with the reason: never lost.
4. Commit, then answer AA (AR when the interpreter rejected it). If storing or committing fails
   (the database is down), nothing is kept and the answer is AE: the sender sends it again.

The listener's rate is bound by this path, so its statements are built once (Core, not the ORM's
unit of work) and a plain message costs four round trips besides what the interpreter reads:
store, the interpreter's own, record the outcome, commit.

Logs name message ids, control ids and outcomes, never the message's content.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from tracking.cases.errors import classify, describe
from tracking.hl7.ack import AckCode, acknowledgement
from tracking.hl7.decoding import CONTROL, Decoded, Header, Malformed, Problem, decode
from tracking.hl7.interpretation import Interpretation, MessageOutcome
from tracking.hl7.models import MAX_DETAIL, HL7Message

log = logging.getLogger(__name__)

Interpreter = Callable[..., Interpretation]  # (session, message, *, message_id, sender, now)
NOT_STORED = Problem(207, "The message could not be stored; send it again.")
NOT_INTERPRETED_YET = "Received; not interpreted yet."

MESSAGES = HL7Message.__table__
# Store a message unless its sender and control id were stored before (and not rejected).
STORE = (
    insert(MESSAGES)
    .on_conflict_do_nothing(index_elements=["sender", "control_id"], index_where=text("outcome <> 'rejected'"))
    .returning(MESSAGES.c.id)
)
RECORD_OUTCOME = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(outcome=bindparam("new_outcome"), detail=bindparam("new_detail"), case_id=bindparam("new_case_id"),
            inbox_item_id=bindparam("new_inbox_item_id"), ack_code=bindparam("new_ack_code"))
)  # fmt: skip
COUNT_DUPLICATE = (
    update(MESSAGES)
    .where(MESSAGES.c.sender == bindparam("dup_sender"), MESSAGES.c.control_id == bindparam("dup_control_id"),
           MESSAGES.c.outcome != MessageOutcome.rejected.value)
    .values(duplicates=MESSAGES.c.duplicates + 1)
    .returning(MESSAGES.c.id, MESSAGES.c.outcome, MESSAGES.c.detail, MESSAGES.c.case_id)
)  # fmt: skip


@dataclass(frozen=True)
class Receipt:
    """What became of one message, for the listener's log and `workup hl7 import`."""

    ack: bytes
    ack_code: AckCode
    message_id: int | None  # the message log's row; None when it could not be stored
    control_id: str
    message_type: str  # "ORU^R01"
    outcome: MessageOutcome | None  # None when not stored (AE)
    detail: str
    case_id: int | None = None
    duplicate: bool = False


def default_interpreter() -> Interpreter:
    from tracking.hl7.interpret import interpret

    return interpret


def receive(engine: Engine, raw: bytes, *, now: datetime, interpreter: Interpreter | None = None) -> bytes:
    """The ACK for one message (without MLLP framing)."""
    return receive_message(engine, raw, now=now, interpreter=interpreter).ack


def receive_message(engine: Engine, raw: bytes, *, now: datetime, interpreter: Interpreter | None = None) -> Receipt:
    try:
        decoded = decode(raw)
    except Malformed as malformed:
        return _reject(engine, raw, malformed, now=now)
    try:
        return _keep_and_interpret(engine, decoded, raw, now=now, interpreter=interpreter or default_interpreter())
    except Exception as error:  # not stored: the sender keeps it and sends it again
        log.warning("HL7 control id %s: not stored (%s); answered AE", decoded.control_id, type(error).__name__)
        ack = acknowledgement(decoded.header, AckCode.error, now=now, codec=decoded.codec, problem=NOT_STORED)
        return Receipt(ack, AckCode.error, None, decoded.control_id, _type_of(decoded.header), None, NOT_STORED.text)


def not_stored(raw: bytes, *, now: datetime) -> bytes:
    """AE for a message whose storing failed somewhere this module could not see (its process died)."""
    try:
        decoded = decode(raw)
    except Malformed as malformed:
        return acknowledgement(malformed.header, AckCode.error, now=now, codec=malformed.codec, problem=NOT_STORED)
    return acknowledgement(decoded.header, AckCode.error, now=now, codec=decoded.codec, problem=NOT_STORED)


def _type_of(header: Header | None) -> str:
    if header is None:
        return ""
    return "^".join(part for part in (header.message_type, header.trigger_event) if part)


def _keep_and_interpret(
    engine: Engine, decoded: Decoded, raw: bytes, *, now: datetime, interpreter: Interpreter
) -> Receipt:
    header = decoded.header
    with Session(engine, expire_on_commit=False) as session:
        stored = _store(session.connection(), decoded, raw, now=now, detail=NOT_INTERPRETED_YET)
        if stored is None:
            return _duplicate(session, decoded, now=now)
        try:
            interpretation = _interpreted(session, decoded, stored, now=now, interpreter=interpreter)
            _record(session, stored, interpretation)
            session.commit()
        except Exception as error:
            session.rollback()
            interpretation = _failed(decoded, error)
            stored = _store(session.connection(), decoded, raw, now=now, detail=NOT_INTERPRETED_YET)
            if stored is None:  # stored by another connection meanwhile: that one is interpreted
                return _duplicate(session, decoded, now=now)
            _record(session, stored, interpretation)
            session.commit()
    code = AckCode.rejected if interpretation.outcome == MessageOutcome.rejected else AckCode.accepted
    problem = Problem(200, interpretation.detail or "Rejected.") if code == AckCode.rejected else None
    log.info("HL7 message %s (control id %s): %s, %s", stored, header.control_id, interpretation.outcome.value,
             code.value)  # fmt: skip
    ack = acknowledgement(header, code, now=now, codec=decoded.codec, problem=problem)
    return Receipt(ack, code, stored, header.control_id, _type_of(header), interpretation.outcome,
                   interpretation.detail, interpretation.case_id)  # fmt: skip


def _store(connection: Connection, decoded: Decoded, raw: bytes, *, now: datetime, detail: str) -> int | None:
    """The new row's id, or None when the sender and control id were stored before."""
    header = decoded.header
    return connection.execute(
        STORE,
        {"received_at": now, "sender": header.sender, "control_id": header.control_id,
         "message_type": header.message_type, "trigger_event": header.trigger_event or None,
         "version": header.version, "charset": decoded.codec, "raw": raw, "outcome": MessageOutcome.queued.value,
         "detail": detail, "ack_code": AckCode.accepted.value},
    ).scalar_one_or_none()  # fmt: skip


def _duplicate(session: Session, decoded: Decoded, *, now: datetime) -> Receipt:
    """The same sender and control id came before: count it on the first one, answer AA, interpret nothing."""
    header = decoded.header
    first = (
        session.connection()
        .execute(COUNT_DUPLICATE, {"dup_sender": header.sender, "dup_control_id": header.control_id})
        .one_or_none()
    )
    session.commit()
    log.info("HL7 control id %s: duplicate of message %s, answered AA", header.control_id, first.id if first else "?")
    ack = acknowledgement(header, AckCode.accepted, now=now, codec=decoded.codec)
    if first is None:  # the first one was rejected in the meantime: nothing to count it on
        return Receipt(ack, AckCode.accepted, None, header.control_id, _type_of(header), None, "Duplicate.",
                       duplicate=True)  # fmt: skip
    return Receipt(ack, AckCode.accepted, first.id, header.control_id, _type_of(header), MessageOutcome(first.outcome),
                   f"Duplicate of message {first.id}.", first.case_id, duplicate=True)  # fmt: skip


def _interpreted(
    session: Session, decoded: Decoded, message_id: int, *, now: datetime, interpreter: Interpreter
) -> Interpretation:
    """The interpreter's result; raises what the interpreter raised (the caller rolls back)."""
    result = interpreter(session, decoded.fields, message_id=message_id, sender=decoded.sender, now=now)
    if not isinstance(result, Interpretation) or not isinstance(result.outcome, MessageOutcome):
        raise TypeError(f"the interpreter returned {type(result).__name__}, not an Interpretation")
    session.flush()  # the interpreter's pending writes, before the outcome that may point at them
    return result


def _failed(decoded: Decoded, error: BaseException) -> Interpretation:
    """What is kept when interpreting failed: the message, queued, with the reason."""
    stack = "".join(traceback.format_tb(error.__traceback__))  # frames only: the error's text may quote data
    log.error("HL7 control id %s: the interpreter failed (%s); kept as queued\n%s", decoded.control_id,
              type(error).__name__, stack)  # fmt: skip
    return Interpretation(MessageOutcome.queued, f"Not interpreted: {_reason(error)}")


def _reason(error: BaseException) -> str:
    """Why the interpreter failed, in words that carry no patient data (tracking/cases/errors.py)."""
    if classify(error) is not None:
        return describe(error)
    return f"the interpreter failed ({type(error).__name__})"


def _record(session: Session, message_id: int, result: Interpretation) -> None:
    code = AckCode.rejected if result.outcome == MessageOutcome.rejected else AckCode.accepted
    session.connection().execute(
        RECORD_OUTCOME,
        {"message_id": message_id, "new_outcome": result.outcome.value,
         "new_detail": (result.detail or "")[:MAX_DETAIL], "new_case_id": result.case_id,
         "new_inbox_item_id": result.inbox_item_id, "new_ack_code": code.value},
    )  # fmt: skip


def _header_value(value: str, limit: int) -> str | None:
    """A header value as a rejected row keeps it: control characters out, cut to the column."""
    cleaned = CONTROL.sub(" ", value).strip()[:limit]
    return cleaned or None


def _reject(engine: Engine, raw: bytes, malformed: Malformed, *, now: datetime) -> Receipt:
    """Answer AR; keep the message as rejected when the database takes it."""
    header, problem = malformed.header, malformed.problem
    readable = header is not None and header.valid_encoding
    control_id = header.control_id if readable else ""
    message_id = None
    try:
        with Session(engine) as session:
            message_id = session.execute(
                insert(HL7Message)
                .values(received_at=now, raw=raw, outcome=MessageOutcome.rejected.value,
                        detail=problem.text[:MAX_DETAIL], ack_code=AckCode.rejected.value,
                        sender=_header_value(header.sender, 201) if readable else None,
                        control_id=_header_value(control_id, 199),
                        message_type=_header_value(header.message_type, 20) if readable else None,
                        trigger_event=_header_value(header.trigger_event, 20) if readable else None,
                        version=_header_value(header.version, 20) if readable else None)
                .returning(HL7Message.id)
            ).scalar_one()  # fmt: skip
            session.commit()
    except Exception as error:
        log.warning("HL7 message rejected (code %s) and not stored (%s)", problem.code, type(error).__name__)
    log.info("HL7 message %s (control id %s): rejected, AR (code %s)", message_id, control_id or "?", problem.code)
    ack = acknowledgement(header, AckCode.rejected, now=now, codec=malformed.codec, problem=problem,
                          echo_charset=problem.location != "MSH^1^18")  # fmt: skip
    return Receipt(ack, AckCode.rejected, message_id, control_id, _type_of(header if readable else None),
                   MessageOutcome.rejected if message_id else None, problem.text)  # fmt: skip
