"""Builders for tests: an in-memory case that applies engine decisions, and service inputs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel import Session

from tracking.cases.opening import CaseOpening, FacilityRef, open_case
from tracking.cases.recording import record_event
from tracking.pathway.decision import (
    CaseState,
    Decision,
    HistoryEntry,
    NewEvent,
    OpeningFacts,
    Refusal,
    StepState,
)
from tracking.pathway.definition import Pathway
from tracking.pathway.engine import decide, plan_opening
from tracking.pathway.vocabulary import CaseStatus, StepStatus

SEED_FACILITIES = (11, 12)


@dataclass
class MemoryCase:
    """A case held in memory: opens through the engine and applies each decision like the service does."""

    pathway: Pathway
    state: CaseState
    ids: Any = field(default_factory=lambda: count(1))

    @classmethod
    def open(
        cls,
        pathway: Pathway,
        now: datetime,
        *,
        laterality: str = "left",
        density: str = "c",
        birads: str = "0",
        facility_ids: tuple[int, ...] = SEED_FACILITIES,
        finding_type: str = "calcifications",
        palpable: bool = False,
    ) -> MemoryCase:
        facts = OpeningFacts(finding_type, laterality, density, birads, facility_ids, palpable)
        decision = plan_opening(pathway, facts, now)
        assert isinstance(decision, Decision), decision
        state = CaseState(
            finding_type=finding_type,
            laterality=laterality,
            density=density,
            birads=birads,
            status=CaseStatus.open,
            opened_at=now,
            palpable=palpable,
        )
        case = cls(pathway, state)
        case.apply(decision, HistoryEntry("case_opened", now, {}), now)
        return case

    def record(self, kind: str, data: dict[str, Any], at: datetime, now: datetime | None = None) -> Decision | Refusal:
        """Decide the event; apply it when accepted. Returns what the engine returned."""
        result = decide(self.pathway, self.state, NewEvent(kind, data, at), now or at)
        if isinstance(result, Decision):
            self.apply(result, HistoryEntry(kind, at, result.data), at)
        return result

    def apply(self, decision: Decision, entry: HistoryEntry, at: datetime) -> None:
        closed = {change.step_id: StepStatus.completed for change in decision.complete}
        closed |= {change.step_id: StepStatus.cancelled for change in decision.cancel}
        closed |= {change.step_id: StepStatus.handed_off for change in decision.hand_off}
        scheduled = dict(decision.schedule)
        unscheduled = {change.step_id for change in decision.unschedule}
        steps = []
        for step in self.state.steps:
            if step.id in closed:
                step = replace(step, status=closed[step.id])
            elif step.id in scheduled:
                step = replace(step, status=StepStatus.scheduled)
            elif step.id in unscheduled:
                step = replace(step, status=StepStatus.pending)
            steps.append(step)
        for new in decision.create:
            steps.append(
                StepState(
                    id=next(self.ids),
                    kind=new.kind,
                    status=new.status,
                    due_at=new.due_at,
                    laterality=new.laterality,
                    facility_id=new.facility_id,
                    created_at=at,
                )
            )
        disposition = decision.disposition or (None if decision.clear_disposition else self.state.disposition)
        self.state = replace(
            self.state,
            steps=tuple(steps),
            birads=decision.birads or self.state.birads,
            status=decision.status or self.state.status,
            disposition=disposition,
            history=(*self.state.history, entry),
        )

    # --- views used by assertions ---------------------------------------------------------------
    def open_kinds(self) -> list[str]:
        return sorted(step.kind for step in self.state.steps if step.is_open)

    def open_step(self, kind: str) -> StepState:
        matches = [step for step in self.state.steps if step.is_open and step.kind == kind]
        assert len(matches) == 1, f"expected one open {kind}, found {len(matches)}: {self.open_kinds()}"
        return matches[0]

    def status_of(self, kind: str) -> list[str]:
        return [step.status for step in self.state.steps if step.kind == kind]


def seed_opening(**overrides: Any) -> CaseOpening:
    """The seed article's patient (synthetic name): left calcifications, dense tissue, two outside facilities."""
    values: dict[str, Any] = {
        "mrn": "TEST-SEED-1",
        "given_name": "Maren",
        "family_name": "Testcase",
        "birth_date": date(1968, 4, 12),
        "finding_type": "calcifications",
        "laterality": "left",
        "density": "c",
        "birads": "0",
        "facilities": [
            FacilityRef(name="Test Northside Imaging", channel="email", contact="films@northside.test"),
            FacilityRef(name="Test Lakeview Health", channel="webhook", contact="http://127.0.0.1:9/priors"),
        ],
    }
    values.update(overrides)
    return CaseOpening(**values)


SUSPICIOUS_MAG = {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"}
PROBABLY_BENIGN_MAG = {"birads": "3", "morphology": "round", "distribution": "grouped"}
BENIGN_MAG = {"birads": "2", "morphology": "coarse_popcorn", "distribution": "diffuse"}
STEREOTACTIC_DONE = {
    "procedure": "stereotactic",
    "guidance": "stereotactic",
    "cores": 8,
    "specimen_radiograph": "calcifications_confirmed",
    "site_marker": "clip_placed",
}


# A BI-RADS 3 case whose 6-month follow-up has a window: opened, then magnification read as probably
# benign. The follow-up's target is 6 months after the read; its window is 30 days either side, and
# it is overdue only once the window has closed. The dates are written out, not computed.
FOLLOWUP_OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FOLLOWUP_READ = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
PUNCTATE_BIRADS_3 = {"birads": "3", "morphology": "punctate", "distribution": "grouped"}
FOLLOWUP_TARGET = "2026-09-05T09:00:00+00:00"
FOLLOWUP_OPENS = "2026-08-06T09:00:00+00:00"
FOLLOWUP_CLOSES = "2026-10-05T09:00:00+00:00"
FOLLOWUP_WINDOW = "target 2026-09-05 (window 2026-08-06 to 2026-10-05)"


def open_probably_benign_case(session: Session, mrn: str = "TEST-WINDOW-1") -> int:
    """Open the seed patient's case at FOLLOWUP_OPENED and record the BI-RADS 3 read at FOLLOWUP_READ."""
    case_id = open_case(session, seed_opening(mrn=mrn), actor="test", now=FOLLOWUP_OPENED).case_id
    record_event(session, case_id, "magnification_result", PUNCTATE_BIRADS_3, actor="test", now=FOLLOWUP_READ)
    return case_id


# --- cases on real PostgreSQL, through the services -------------------------------------------------


def followup_case(session: Session, at: datetime, mrn: str) -> int:
    """A case opened at `at` whose magnification views are BI-RADS 3 (a 6-month follow-up), letter sent."""
    case_id = open_case(session, seed_opening(mrn=mrn, facilities=[], density="b"), actor="nav", now=at).case_id
    record_event(session, case_id, "magnification_result", PROBABLY_BENIGN_MAG, actor="rad", now=at)
    record_event(session, case_id, "result_letter_sent", {"density_sentence_included": True}, actor="nav", now=at)
    return case_id


def missed_then_called_twice(session: Session, case_id: int, missed_at: datetime) -> None:
    """The 6-month exam missed at `missed_at`; a navigator calls the next day and the day after, no answer."""
    record_event(session, case_id, "appointment_missed", {"step": "followup_6_month"}, actor="nav", now=missed_at)
    for day in (1, 2):
        record_event(
            session, case_id, "contact_attempt", {"method": "call", "outcome": "no_answer"},
            actor="nav", now=missed_at + timedelta(days=day),
        )  # fmt: skip
