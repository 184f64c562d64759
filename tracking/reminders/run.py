"""Every clock-driven reminder job, as of one moment: what `workup reminders`, the `send_reminders`
flow and the embedded scheduler all run.

`run_reminders(session, now)` runs the parts in PARTS, in this order, in the caller's transaction:

- prior_films: first requests not yet queued, the chases (days 7 and 14) and the escalation
  notice (day 21) of every outstanding prior-film request (priors.py);
- visits: reminders before follow-up visits and annual screening (visits.py);
- missed_appointments: the contact letter when its turn comes, then the automatic "lost to
  follow-up" declaration after the wait (no_show.py).

Nothing here reads the wall clock: `now` decides what is due, so a run can be replayed, back-filled
or checked from outside. Every part is idempotent (dedupe keys, idempotency keys): the same `now`
twice changes nothing the second time. The flow runs each part as a task of its own (its own
transaction and retries) and builds the same RemindersReport from PARTS, so the two cannot drift.
The report carries counts and case ids, never patient data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from tracking.reminders.no_show import NoShowReport, advance_missed_appointments
from tracking.reminders.priors import ChaseReport, chase_prior_films
from tracking.reminders.visits import VisitReport, remind_upcoming_visits
from tracking.settings import Settings

# The parts of one reminders run, by their name in RemindersReport, in the order they run.
PARTS: dict[str, Callable[..., Any]] = {
    "prior_films": chase_prior_films,
    "visits": remind_upcoming_visits,
    "missed_appointments": advance_missed_appointments,
}


@dataclass
class RemindersReport:
    """What one run did: one report per part (counts and case ids only)."""

    prior_films: ChaseReport = field(default_factory=ChaseReport)
    visits: VisitReport = field(default_factory=VisitReport)
    missed_appointments: NoShowReport = field(default_factory=NoShowReport)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def acted(self) -> bool:
        """Whether anything was queued, recorded or counted (a replay of the same `now` acts on nothing)."""
        priors, visits, missed = self.prior_films, self.visits, self.missed_appointments
        return bool(
            priors.chases or priors.requests_chased or priors.escalations or visits.reminders
            or missed.letters or missed.lost_to_follow_up
        )  # fmt: skip

    def lines(self) -> list[tuple[str, int, list[int]]]:
        """(what, how many, case ids) per kind of action, for people."""
        priors, visits, missed = self.prior_films, self.visits, self.missed_appointments
        return [
            ("prior-film requests chased", priors.requests_chased, priors.chased_case_ids),
            ("prior-film messages queued (requests, chases, navigator tasks)", priors.chases, []),
            ("prior films missing: escalations", priors.escalations, priors.escalated_case_ids),
            ("visit reminders", visits.reminders, visits.reminded_case_ids),
            ("contact letters", missed.letters, missed.letter_case_ids),
            ("declared lost to follow-up", missed.lost_to_follow_up, missed.lost_case_ids),
            ("skipped (changed while running; next run looks again)", missed.skipped, missed.skipped_case_ids),
        ]


def run_reminders(session: Session, now: datetime, *, settings: Settings | None = None) -> RemindersReport:
    """Run every part as of `now` in the caller's transaction (the caller commits)."""
    return RemindersReport(**{name: part(session, now, settings=settings) for name, part in PARTS.items()})
