"""The message log keeps a message WORKUP_HL7_RETENTION_DAYS after it was received, then deletes it.

A queued message is kept while it waits for a person, however old: while it has an open HL7 inbox
item, or no item at all (its interpretation failed: the message log is where it waits). Once every
item it raised has been confirmed or dismissed it goes with the rest. The sweep
calls `prune_messages` (tracking/alerts/sweep.py), so the embedded scheduler and the Prefect
deployment both prune; each call deletes at most PRUNE_BATCH rows, oldest first, so a first run
over a long backlog stays short and later sweeps finish the rest. Each prune that deletes
anything writes one audit row with the counts per outcome (never a message's content).
A control id seen again after its message was pruned is taken as a new message. A sweep run as of
a future moment (`workup sweep --now ... --allow-future`, a simulation) prunes only what the wall
clock allows: deleting is the one thing a simulation must not do ahead of time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from tracking.audit import audit
from tracking.settings import Settings, get_settings

PRUNE_BATCH = 10_000
ACTOR = "system:hl7-retention"

PRUNE = text(
    """
    WITH doomed AS (
        SELECT id FROM hl7_messages
        WHERE received_at < :before
          AND (outcome <> 'queued'
               OR (EXISTS (SELECT 1 FROM hl7_inbox_items i WHERE i.message_id = hl7_messages.id)
                   AND NOT EXISTS (SELECT 1 FROM hl7_inbox_items i
                                   WHERE i.message_id = hl7_messages.id AND i.status = 'open')))
        ORDER BY received_at, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM hl7_messages WHERE id IN (SELECT id FROM doomed) RETURNING outcome
    )
    SELECT outcome, count(*) FROM gone GROUP BY outcome ORDER BY outcome
    """
)


def prune_messages(session: Session, now: datetime, *, settings: Settings | None = None) -> int:
    """Delete messages received more than the retention before `now` (those still waiting for a person
    stay); how many went."""
    settings = settings or get_settings()
    before = min(now, datetime.now(UTC)) - timedelta(days=settings.hl7_retention_days)
    counts = {outcome: count for outcome, count in session.execute(PRUNE, {"before": before, "batch": PRUNE_BATCH})}
    total = sum(counts.values())
    if total:
        per_outcome = {f"count_{outcome}": count for outcome, count in counts.items()}
        audit(session, actor=ACTOR, action="hl7.messages_pruned", at=now, count=total, **per_outcome,
              received_before=before.isoformat(), retention_days=settings.hl7_retention_days)  # fmt: skip
    return total
