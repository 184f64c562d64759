"""What a sweep reads: everything (a full pass), or only what can have changed since the last sweep.

A sweep begins by locking its row in `sweep_state` (so sweeps run one at a time, and each one
starts from what the previous one committed) and claiming the change log `sweep_changes`: it
deletes every row it can see and keeps their step and case ids. Rows written by transactions
still running are invisible to it and stay for the next sweep, so no change is lost whatever the
order in which transactions commit. It ends by moving the watermark to its `now`.

A sweep is a full pass when it is asked for one (`workup sweep --full`), when there is no
watermark yet, when the clock is behind the watermark, when the last full pass is older than
WORKUP_SWEEP_FULL_EVERY_HOURS, when the pathway rules it sweeps under changed (their hash), or when
more than MAX_CLAIMED changes are waiting (a list of ids that long costs more than a full pass).
See ADR 12.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

SWEEP_NAME = "alerts"
MAX_CLAIMED = 20_000
SWEEP_WORK_MEM = "32MB"

# Locks this sweep's row (creating it the first time) and reads the watermark. The same round trip
# gives the sweep room to hash in memory instead of sorting on disk (ADR 6) and turns JIT off: at
# 100k cases the planner's estimates could pass jit_above_cost, and compiling took ten times the
# work itself. Both settings end with the caller's transaction (set_config's `true`).
LOCK = text(
    """
    INSERT INTO sweep_state AS s (name) VALUES (:name)
    ON CONFLICT (name) DO UPDATE SET name = s.name
    RETURNING s.last_swept_at, s.last_full_at, s.rules_hash,
              set_config('work_mem', :work_mem, true), set_config('jit', 'off', true)
    """
)
CLAIM = text(
    """
    WITH claimed AS (DELETE FROM sweep_changes RETURNING case_id, step_id)
    SELECT count(*),
           CASE WHEN count(*) <= :most THEN
               coalesce(array_agg(DISTINCT step_id) FILTER (WHERE step_id IS NOT NULL), '{}') END,
           CASE WHEN count(*) <= :most THEN
               coalesce(array_agg(DISTINCT case_id) FILTER (WHERE step_id IS NULL), '{}') END,
           CASE WHEN count(*) <= :most THEN coalesce(array_agg(DISTINCT case_id), '{}') END
    FROM claimed
    """
)
FINISH = text(
    """
    UPDATE sweep_state
    SET last_swept_at = :now, rules_hash = :rules_hash,
        last_full_at = CASE WHEN :full THEN CAST(:now AS timestamptz) ELSE last_full_at END
    WHERE name = :name
    """
)


@dataclass(frozen=True)
class SweepWindow:
    """What one sweep reads. `since` is None for a full pass; otherwise the sweep reads the steps
    that fell due in [since, now), the steps in `step_ids`, every step of the cases in
    `whole_case_ids`, and (for the stalled-case check) the cases in `case_ids`."""

    now: datetime
    since: datetime | None
    why: str
    rules_hash: str
    step_ids: list[int] = field(default_factory=list)
    whole_case_ids: list[int] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.since is None


def rules_hash(*parts: str) -> str:
    """The hash of what the sweep's decisions depend on besides the rows (the pathways' thresholds
    and screening kinds): when it changes, the next sweep is a full pass."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def begin_sweep(
    session: Session, now: datetime, *, rules: str, full_every: timedelta, full: bool = False
) -> SweepWindow:
    """Lock the sweep's state, claim the change log and decide between a full and an incremental pass."""
    last_swept, last_full, last_rules, _, _ = session.execute(
        LOCK, {"name": SWEEP_NAME, "work_mem": SWEEP_WORK_MEM}
    ).one()
    count, step_ids, whole_case_ids, case_ids = session.execute(CLAIM, {"most": MAX_CLAIMED}).one()
    why = (
        "asked for" if full
        else "no watermark" if last_swept is None
        else "clock behind the watermark" if now < last_swept
        else "periodic" if last_full is None or now - last_full >= full_every
        else "pathway rules changed" if last_rules != rules
        else f"{count} changes waiting" if step_ids is None
        else None
    )  # fmt: skip
    if why is not None:
        return SweepWindow(now, None, why, rules)
    return SweepWindow(now, last_swept, "incremental", rules, list(step_ids), list(whole_case_ids), list(case_ids))


def end_sweep(session: Session, window: SweepWindow) -> None:
    """Move the watermark to this sweep's moment (and note a full pass), in the sweep's transaction."""
    session.execute(
        FINISH, {"name": SWEEP_NAME, "now": window.now, "full": window.full, "rules_hash": window.rules_hash}
    )
