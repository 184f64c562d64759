"""The pathway engine: pure decisions from case facts, history, an event and `now`.

No database, no Prefect, no clock. It keeps one invariant: an open case always has at least one
open workup step with a due time, so no case can stall silently.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tracking.pathway.decision import (
    CaseState,
    Decision,
    HistoryEntry,
    NewEvent,
    NewStep,
    OpeningFacts,
    Refusal,
    StepChange,
    StepState,
)
from tracking.pathway.definition import Action, EventRule, Pathway
from tracking.pathway.fields import FieldRefused, normalise_event_data
from tracking.pathway.guards import BEFORE_FIELD_CHECKS, GUARD_CHECKS, breast
from tracking.pathway.vocabulary import CaseStatus, Density, Disposition, Laterality, StepKind, StepStatus

CLOCK_SKEW = timedelta(minutes=5)
PROCEDURE_STEPS = {
    "stereotactic": StepKind.stereotactic_biopsy,
    "open_surgical": StepKind.open_surgical_biopsy,
}
OTHER_BREAST = {Laterality.left: Laterality.right, Laterality.right: Laterality.left}


def plan_opening(pathway: Pathway, facts: OpeningFacts, now: datetime) -> Decision | Refusal:
    """The steps a new case starts with."""
    if facts.finding_type not in pathway.finding_types:
        return Refusal(
            f"The {pathway.name} pathway is for {', '.join(pathway.finding_types)} findings, not {facts.finding_type}."
        )
    if facts.birads not in pathway.choices("birads"):
        return Refusal(f"'{facts.birads}' is not a BI-RADS category.", field="birads")
    case = CaseState(
        finding_type=facts.finding_type,
        laterality=facts.laterality,
        density=facts.density,
        birads=facts.birads,
        status=CaseStatus.open,
        opened_at=now,
    )
    plan = _Plan(pathway, case, now, facility_ids=facts.facility_ids)
    plan.decision.birads = facts.birads
    plan.run(pathway.on_open)
    return plan.finish()


def decide(pathway: Pathway, case: CaseState, event: NewEvent, now: datetime) -> Decision | Refusal:
    """What recording `event` on `case` does, or why it is refused."""
    try:
        return _decide(pathway, case, event, now)
    except FieldRefused as refused:
        return refused.refusal


def _decide(pathway: Pathway, case: CaseState, event: NewEvent, now: datetime) -> Decision | Refusal:
    if case.status == CaseStatus.closed:
        return Refusal("This case is closed; nothing more can be recorded on it.")
    rule = pathway.events.get(event.kind)
    if rule is None:
        return Refusal(
            f"'{event.kind}' is not an event of the {pathway.name} pathway (version {pathway.version}); "
            f"known events: {', '.join(pathway.events)}."
        )
    if event.occurred_at > now + CLOCK_SKEW:
        return Refusal(f"The event is dated {event.occurred_at:%Y-%m-%d %H:%M} UTC, which is in the future.")
    if event.occurred_at < case.opened_at - CLOCK_SKEW:
        return Refusal("The event is dated before the case was opened.")
    warnings: list[str] = []
    raw = event.data if isinstance(event.data, dict) else {}
    for guard in BEFORE_FIELD_CHECKS:
        if guard in rule.guards:
            GUARD_CHECKS[guard](pathway, case, rule, raw, warnings)
    data = normalise_event_data(pathway, rule, event.data)
    if rule.kind == "repeat_biopsy_ordered" and not _last_pathology_allows_repeat(case):
        return Refusal("A repeat biopsy can only be ordered after a high-risk or discordant pathology result.")
    for guard in rule.guards:
        if guard not in BEFORE_FIELD_CHECKS:
            GUARD_CHECKS[guard](pathway, case, rule, data, warnings)
    plan = _Plan(pathway, case, event.occurred_at, event_data=data)
    plan.decision.data = data
    plan.decision.warnings.extend(warnings)
    if case.status == CaseStatus.lost_to_follow_up:
        plan.decision.status = CaseStatus.open.value
        plan.decision.warnings.append("The patient is back in contact: the case is open again.")
    completed = plan.apply_step_links(rule)
    plan.run(rule.then, completed=completed)
    if rule.outcomes:
        plan.run(rule.outcomes[_pathology_outcome(pathway, data)], completed=completed)
        if data.get("diagnosis") == "dcis":
            plan.decision.warnings.append(
                "DCIS on core biopsy is upgraded to invasive cancer at excision in about 1 case in 5; "
                "plan surgery with that in mind."
            )
    return plan.finish()


def _pathology_outcome(pathway: Pathway, data: dict[str, Any]) -> str:
    category, diagnosis = data["category"], data["diagnosis"]
    if diagnosis not in pathway.vocabularies["pathology"][category]:
        raise FieldRefused(
            Refusal(
                f"'{diagnosis.replace('_', ' ')}' is not a {category.replace('_', ' ')} diagnosis; "
                f"{category} diagnoses are: {', '.join(pathway.vocabularies['pathology'][category])}.",
                field="diagnosis",
            )
        )
    if category == "malignant":
        return "malignant"
    if category == "high_risk" or not data["concordant"]:
        return "high_risk_or_discordant"
    return "benign_concordant"


def _last_pathology_allows_repeat(case: CaseState) -> bool:
    """Only a high-risk or discordant benign result; never a malignant one."""
    results = [entry for entry in case.history if entry.kind == "pathology_result"]
    if not results:
        return False
    last = results[-1].payload
    if last.get("category") == "malignant":
        return False
    return last.get("category") == "high_risk" or last.get("concordant") is False


def _since_last_missed(case: CaseState) -> list[HistoryEntry]:
    entries = list(case.history)
    missed = [index for index, entry in enumerate(entries) if entry.kind == "appointment_missed"]
    return entries[missed[-1] :] if missed else []


def last_missed_step(case: CaseState) -> str | None:
    since = _since_last_missed(case)
    return since[0].payload.get("step") if since else None


def attempts_since_missed(case: CaseState) -> int:
    """Failed contact attempts logged since the last missed appointment."""
    return sum(
        1
        for entry in _since_last_missed(case)
        if entry.kind == "contact_attempt" and entry.payload.get("outcome") != "rescheduled"
    )


def next_contact_attempt(pathway: Pathway, case: CaseState) -> str:
    """'call' or 'letter' for the next attempt, or 'wait' once every attempt has been made."""
    made = attempts_since_missed(case)
    attempts = pathway.no_show.attempts
    return attempts[made] if made < len(attempts) else "wait"


class _Plan:
    """Builds one Decision, tracking which steps stay open as actions are applied."""

    def __init__(
        self,
        pathway: Pathway,
        case: CaseState,
        anchor: datetime,
        event_data: dict[str, Any] | None = None,
        facility_ids: tuple[int, ...] = (),
    ):
        self.pathway = pathway
        self.case = case
        self.anchor = anchor
        self.data = event_data or {}
        self.facility_ids = facility_ids
        self.decision = Decision()
        self.open: list[StepState | NewStep] = list(case.open_steps())

    # --- steps the event itself completes, cancels or schedules -------------------------------
    def apply_step_links(self, rule: EventRule) -> list[StepState]:
        completed = []
        if rule.completes:
            step = self._target(rule, rule.completes, "record this")
            self._close(step, self.decision.complete, f"{rule.kind}")
            completed.append(step)
        if rule.cancels:
            step = self._target(rule, rule.cancels, "record this")
            self._close(step, self.decision.cancel, self.data.get("reason") or rule.kind)
        if rule.schedules:
            step = self._target(rule, rule.schedules, "schedule it")
            self.decision.schedule.append((step.id, self.data["scheduled_for"]))
        return completed

    def _target(self, rule: EventRule, kinds: tuple[str, ...], verb: str) -> StepState:
        if "procedure" in self.data:
            kinds = (PROCEDURE_STEPS[self.data["procedure"]],)
        elif self.data.get("step") in kinds:
            kinds = (self.data["step"],)
        wanted_facility = self.data.get("facility_id")
        candidates = [
            step
            for step in self.open
            if isinstance(step, StepState)
            and step.kind in kinds
            and (wanted_facility is None or step.facility_id == wanted_facility)
        ]
        if not candidates:
            titles = " or ".join(self.pathway.steps[kind].title.lower() for kind in kinds)
            where = f" for facility {wanted_facility}" if wanted_facility is not None else ""
            raise FieldRefused(Refusal(f"There is no open step for {titles}{where} on this case to {verb}."))
        return min(candidates, key=lambda step: (step.due_at, step.id))

    def _close(self, step: StepState, into: list[StepChange], reason: str) -> None:
        into.append(StepChange(step.id, reason))
        self.open.remove(step)

    # --- actions ----------------------------------------------------------------------------------
    def run(self, actions: tuple[Action, ...], completed: list[StepState] | None = None) -> None:
        for action in actions:
            getattr(self, f"_{action.name}")(action, completed or [])

    def _create(self, action: Action, completed: list[StepState]) -> None:
        assert action.value is not None, "a create action names its step kind (checked when the pathway loads)"
        self.create(action.value, action.laterality, action.when)

    def create(self, kind: str, laterality_rule: str | None = None, when: str | None = None) -> None:
        if when == "dense" and not Density(self.case.density).is_dense:
            return
        if when == "priors_pending" and not self.facility_ids:
            return
        rule = self.pathway.steps[kind]
        laterality = self._laterality(laterality_rule or rule.laterality)
        if laterality is False:
            return
        facilities = self.facility_ids if rule.per_facility else (None,)
        for facility_id in facilities:
            if kind != StepKind.result_letter and any(
                step.kind == kind and step.facility_id == facility_id for step in self.open
            ):
                continue
            due = rule.due.due_from(self.anchor, self.decision.birads or self.case.birads)
            step = NewStep(
                kind=str(kind),
                due_at=due,
                laterality=str(laterality) if laterality else None,
                facility_id=facility_id,
                target_at=rule.due.target_from(self.anchor),
            )
            self.decision.create.append(step)
            self.open.append(step)

    def _laterality(self, rule: str | None) -> str | None | bool:
        if rule is None:
            return None
        if rule == "affected":
            return self.case.laterality
        if rule == "other":
            return OTHER_BREAST.get(Laterality(self.case.laterality), False)
        return rule

    def _cancel(self, action: Action, completed: list[StepState]) -> None:
        for step in [step for step in self.open if step.kind == action.value]:
            reason = f"superseded by BI-RADS {self.decision.birads} assessment"
            if isinstance(step, StepState):
                self._close(step, self.decision.cancel, reason)
                if step.kind in (StepKind.stereotactic_biopsy, StepKind.open_surgical_biopsy):
                    self.decision.warnings.append(
                        f"The {self.pathway.steps[step.kind].title.lower()} is no longer needed and was "
                        "cancelled; tell the patient if it was booked."
                    )
            else:
                self.open.remove(step)
                self.decision.create.remove(step)

    def _set_birads(self, action: Action, completed: list[StepState]) -> None:
        self.decision.birads = action.value

    def _dispose(self, action: Action, completed: list[StepState]) -> None:
        self.decision.disposition = action.value

    def _assessment_outcome(self, action: Action, completed: list[StepState]) -> None:
        birads = self.data["birads"]
        if birads not in self.pathway.assessment_outcomes:
            raise FieldRefused(
                Refusal(
                    f"BI-RADS {birads} is not an imaging assessment here: it follows from a malignant pathology "
                    "result. Record the pathology result instead.",
                    field="birads",
                )
            )
        self.decision.birads = birads
        if self.case.disposition:
            self.decision.clear_disposition = True
        if birads != "0":
            for step in [step for step in self.open if step.kind == StepKind.final_assessment]:
                if isinstance(step, StepState):
                    self._close(step, self.decision.complete, "final assessment recorded")
        self.run(self.pathway.assessment_outcomes[birads], completed)

    def _result_letter(self, action: Action, completed: list[StepState]) -> None:
        self.create(StepKind.result_letter)

    def _routine_screening(self, action: Action, completed: list[StepState]) -> None:
        for step in [step for step in self.open if step.kind == StepKind.annual_screening]:
            if step.laterality == Laterality.bilateral:
                break
            if isinstance(step, StepState):
                self._close(step, self.decision.cancel, "replaced by bilateral annual screening")
        self.create(StepKind.annual_screening, Laterality.bilateral)
        self.decision.disposition = Disposition.returned_to_screening.value
        self.decision.clear_disposition = False

    def _short_interval_followup(self, action: Action, completed: list[StepState]) -> None:
        sequence = self.pathway.surveillance
        done = [step.kind for step in completed if step.kind in sequence]
        if done:
            position = sequence.index(done[0]) + 1
            if position < len(sequence):
                self.create(sequence[position])
                return
            if self.data.get("change") not in ("stable", "decreased"):
                self.create(sequence[-1])
                self.decision.warnings.append(
                    "Not stable at the last scheduled follow-up: surveillance continues with another "
                    f"{self.pathway.steps[sequence[-1]].title.lower()} instead of a downgrade."
                )
                return
            self.decision.birads = self.pathway.downgrade_to
            self.decision.warnings.append(
                f"Stable through {len(sequence)} follow-up exams: assessment downgraded to "
                f"BI-RADS {self.pathway.downgrade_to}, back to annual screening."
            )
            self._routine_screening(action, completed)
            return
        if not any(step.kind in sequence for step in self.open):
            self.create(sequence[0])

    # --- missed appointments ---------------------------------------------------------------------
    def _start_contact_attempts(self, action: Action, completed: list[StepState]) -> None:
        missed = self._open_state_step(self.data["step"])
        if missed.status == StepStatus.scheduled:
            self.decision.unschedule.append(StepChange(missed.id, "appointment missed"))
        self.create(StepKind.patient_contact)

    def _contact_outcome(self, action: Action, completed: list[StepState]) -> None:
        if self.data["outcome"] == "rescheduled":
            if "scheduled_for" not in self.data:
                raise FieldRefused(Refusal("A rescheduled appointment needs 'scheduled_for'.", field="scheduled_for"))
            missed = self._open_state_step(last_missed_step(self.case))
            self.decision.schedule.append((missed.id, self.data["scheduled_for"]))
            return
        attempts = self.pathway.no_show.attempts
        made = attempts_since_missed(self.case) + 1
        if made < len(attempts):
            self.create(StepKind.patient_contact)
            return
        wait = self.pathway.no_show.wait_after_last_days
        due = self.anchor + timedelta(days=wait)
        step = NewStep(kind=StepKind.patient_contact.value, due_at=due)
        self.decision.create.append(step)
        self.open.append(step)
        self.decision.warnings.append(
            f"All {len(attempts)} contact attempts have been made. If the patient has not been reached by "
            f"{due:%Y-%m-%d}, the case becomes lost to follow-up (it stays on the worklist)."
        )

    def _lost_to_follow_up(self, action: Action, completed: list[StepState]) -> None:
        self.decision.status = CaseStatus.lost_to_follow_up.value
        self.decision.warnings.append(
            "The case is lost to follow-up. It stays visible on every list until the patient is reached."
        )

    def _open_state_step(self, kind: str | None) -> StepState:
        for step in self.open:
            if isinstance(step, StepState) and step.kind == kind:
                return step
        title = self.pathway.steps[kind].title.lower() if kind in self.pathway.steps else "the missed appointment"
        raise FieldRefused(Refusal(f"There is no open step for {title} on this case."))

    # --- the invariant ------------------------------------------------------------------------------
    def finish(self) -> Decision | Refusal:
        decision = self.decision
        if decision.status == CaseStatus.lost_to_follow_up:
            return decision
        workup_open = [step for step in self.open if not self.pathway.is_screening(step.kind)]
        disposition = decision.disposition or (None if decision.clear_disposition else self.case.disposition)
        if workup_open:
            return decision
        if disposition:
            decision.status = CaseStatus.closed.value
            for step in self.open:
                if isinstance(step, StepState):
                    decision.hand_off.append(StepChange(step.id, "handed to routine screening"))
                else:
                    index = decision.create.index(step)
                    decision.create[index] = replace(step, status=StepStatus.handed_off.value)
            return decision
        return Refusal(
            f"Recording this would leave the case on {breast(self.case)} with no next step and no "
            "outcome. Record the assessment or decision that says what happens next."
        )
