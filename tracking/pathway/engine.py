"""The pathway engine: pure decisions from case facts, history, an event and `now`.

No database, no Prefect, no clock, and no clinical rule of its own: every step, branch, check and
role comes from the pathway file. It keeps one invariant: an open case always has at least one
open workup step with a due time, so no case can stall silently; a lost case keeps the dated item
its pathway gives it, and the sweep alerts on any case that ends up with neither.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tracking.pathway.checks import breast, run_checks
from tracking.pathway.conditions import Context, holds
from tracking.pathway.contact import (
    REACHED,
    attempts_since_missed,
    last_missed_step,
    next_contact_attempt,
)
from tracking.pathway.decision import (
    CaseState,
    Decision,
    NewEvent,
    NewStep,
    OpeningFacts,
    Refusal,
    StepChange,
    StepState,
)
from tracking.pathway.definition import Action, EventRule, Pathway
from tracking.pathway.fields import FieldRefused, normalise_event_data
from tracking.pathway.vocabulary import CaseStatus, Disposition, Laterality, StepStatus

__all__ = ["decide", "plan_opening", "last_missed_step", "next_contact_attempt", "attempts_since_missed"]

CLOCK_SKEW = timedelta(minutes=5)
OTHER_BREAST = {Laterality.left: Laterality.right, Laterality.right: Laterality.left}


def plan_opening(pathway: Pathway, facts: OpeningFacts, now: datetime) -> Decision | Refusal:
    """The steps a new case starts with, due from `now` (the exam the finding came from)."""
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
        palpable=facts.palpable,
    )
    plan = _Plan(pathway, case, now, facility_ids=facts.facility_ids)
    plan.decision.birads = facts.birads
    try:
        plan.run(pathway.on_open)
    except FieldRefused as refused:
        return refused.refusal
    return plan.finish()


def decide(pathway: Pathway, case: CaseState, event: NewEvent, now: datetime) -> Decision | Refusal:
    """What recording `event` on `case` does, or why it is refused."""
    try:
        return _decide(pathway, case, event, now)
    except FieldRefused as refused:
        return refused.refusal


def _decide(pathway: Pathway, case: CaseState, event: NewEvent, now: datetime) -> Decision | Refusal:
    rule = pathway.events.get(event.kind)
    if rule is None:
        return Refusal(
            f"'{event.kind}' is not an event of the {pathway.name} pathway (version {pathway.version}); "
            f"known events: {', '.join(pathway.events)}."
        )
    if case.status == CaseStatus.closed and not rule.on_closed_case:
        allowed = [f"'{other.title}'" for other in pathway.events.values() if other.on_closed_case]
        also = f" Only {' or '.join(allowed)} can be recorded on it." if allowed else ""
        return Refusal(f"This case is closed; its workup is over.{also}")
    if event.occurred_at > now + CLOCK_SKEW:
        return Refusal(f"The event is dated {event.occurred_at:%Y-%m-%d %H:%M} UTC, which is in the future.")
    if event.occurred_at < case.opened_at - CLOCK_SKEW:
        return Refusal("The event is dated before the case was opened.")
    warnings: list[str] = []
    raw = event.data if isinstance(event.data, dict) else {}
    run_checks(rule, Context(pathway, case, raw), warnings, before_fields=True)
    data = normalise_event_data(pathway, rule, event.data)
    _refuse_past_moments(rule, data, now)
    context = Context(pathway, case, data)
    run_checks(rule, context, warnings, before_fields=False)
    plan = _Plan(pathway, case, event.occurred_at, event_data=data)
    plan.decision.data = data
    plan.decision.warnings.extend(warnings)
    completed = plan.apply_step_links(rule)
    plan.run(rule.then, completed=completed)
    for outcome in rule.outcomes:
        if holds(outcome.when, context):
            plan.run(outcome.then, completed=completed)
            break
    if case.status == CaseStatus.lost_to_follow_up and _brings_back(rule, context):
        plan.decision.status = CaseStatus.open.value
        plan.decision.warnings.append("The patient is back in contact: the case is open again.")
        plan.run(pathway.no_show.on_return)
    plan.close_contact_chain()
    return plan.finish()


def _brings_back(rule: EventRule, context: Context) -> bool:
    """Only the patient's side brings a lost case back: a booking, an exam, contact reached."""
    if isinstance(rule.brings_back, dict):
        return holds(rule.brings_back, context)
    return rule.brings_back


def _refuse_past_moments(rule: EventRule, data: dict[str, Any], now: datetime) -> None:
    for name, field in rule.fields.items():
        moment = data.get(name)
        if field.future_unless is None or not isinstance(moment, datetime) or data.get(field.future_unless):
            continue
        if moment < now - CLOCK_SKEW:
            raise FieldRefused(
                Refusal(
                    f"'{name}' of '{rule.kind}' is {moment:%Y-%m-%d %H:%M} UTC, which is in the past. "
                    f"To record an appointment that was booked for an earlier time, set '{field.future_unless}'.",
                    field=name,
                )
            )


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
        if case.status == CaseStatus.closed:  # screening handed off at closure is still tracked
            self.open += [step for step in case.steps if step.status == StepStatus.handed_off]
        self.context = Context(pathway, case, self.data, facility_ids)

    # --- steps the event itself completes, cancels or schedules -------------------------------
    def apply_step_links(self, rule: EventRule) -> list[StepState]:
        completed = []
        if rule.completes and (not rule.completes_when_open or self._any_open(rule.completes)):
            step = self._target(rule, rule.completes, "record this")
            self._close(step, self.decision.complete, f"{rule.kind}")
            completed.append(step)
        if rule.cancels:
            step = self._target(rule, rule.cancels, "record this")
            self._close(step, self.decision.cancel, self.data.get("reason") or rule.kind)
        if rule.schedules:
            step = self._target(rule, rule.schedules, "schedule it")
            self.decision.schedule.append((step.id, self.data["scheduled_for"]))
            self._warn_late_booking(step, self.data["scheduled_for"])
        return completed

    def _any_open(self, kinds: tuple[str, ...]) -> bool:
        return any(isinstance(step, StepState) and step.kind in kinds for step in self.open)

    def _warn_late_booking(self, step: StepState, booked_for: datetime) -> None:
        """A booking after the step's due time is accepted, with a warning saying how late it falls."""
        if step.due_at is None or booked_for <= step.due_at:
            return
        days = (booked_for - step.due_at).days
        late = "on its due day, after the due time" if days == 0 else f"{days} day{'s' if days != 1 else ''} after"
        self.decision.warnings.append(
            f"The {self.pathway.steps[step.kind].title.lower()} is booked for {booked_for:%Y-%m-%d}, {late} "
            f"it is due ({step.due_at:%Y-%m-%d}). It stays overdue until it is done; book an earlier slot if one "
            "is free."
        )

    def _target(self, rule: EventRule, kinds: tuple[str, ...], verb: str) -> StepState:
        allowed = kinds
        if rule.step_from is not None and self.data.get(rule.step_from[0]) in rule.step_from[1]:
            kinds = (rule.step_from[1][self.data[rule.step_from[0]]],)
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
            raise FieldRefused(Refusal(self._no_open_step(allowed, kinds, wanted_facility, verb)))
        return min(candidates, key=lambda step: (step.due_at, step.id))

    def _no_open_step(self, allowed: tuple[str, ...], kinds: tuple[str, ...], facility: int | None, verb: str) -> str:
        """Say which open steps this event could apply to instead, if any."""
        titles = " or ".join(self.pathway.steps[kind].title.lower() for kind in kinds)
        where = f" for facility {facility}" if facility is not None else ""
        message = f"There is no open step for {titles}{where} on this case to {verb}."
        others = [step for step in self.open if isinstance(step, StepState) and step.kind in allowed]
        if others:
            listed = "; ".join(
                f"{self.pathway.steps[step.kind].title.lower()}"
                + (f" (facility {step.facility_id})" if step.facility_id is not None else "")
                for step in sorted(others, key=lambda step: (step.due_at or self.anchor, step.id))
            )
            message += f" Open steps this event can apply to: {listed}."
        return message

    def _close(self, step: StepState, into: list[StepChange], reason: str) -> None:
        into.append(StepChange(step.id, reason))
        self.open.remove(step)

    # --- actions ----------------------------------------------------------------------------------
    def run(self, actions: tuple[Action, ...], completed: list[StepState] | None = None) -> None:
        for action in actions:
            if action.when is not None and not holds(action.when, self.context):
                continue
            getattr(self, f"_{action.name}")(action, completed or [])

    def _create(self, action: Action, completed: list[StepState]) -> None:
        assert action.value is not None, "a create action names its step kind (checked when the pathway loads)"
        self.create(action.value, action.laterality)

    def create(self, kind: str, laterality_rule: str | None = None) -> None:
        rule = self.pathway.steps[kind]
        laterality = self._laterality(laterality_rule or rule.laterality)
        if laterality is False:
            return
        facilities: tuple[int | None, ...] = self.facility_ids if rule.per_facility else (None,)
        for facility_id in facilities:
            if not rule.repeatable and any(
                step.kind == kind and step.facility_id == facility_id and _is_open(step) for step in self.open
            ):
                continue
            birads = self.decision.birads or self.case.birads
            due = rule.due.due_from(self.anchor, birads)
            step = NewStep(
                kind=str(kind),
                due_at=due,
                laterality=str(laterality) if laterality else None,
                facility_id=facility_id,
                target_at=rule.due.target_from(self.anchor, birads),
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
        reason = (
            f"superseded by BI-RADS {self.decision.birads} assessment" if self.decision.birads else "no longer needed"
        )
        self.cancel_open(str(action.value), reason, tell=True)

    def cancel_open(self, kind: str, reason: str, *, tell: bool = False) -> None:
        """Cancel the open steps of `kind`; with `tell`, say so of any that was booked."""
        for step in [step for step in self.open if step.kind == kind and _is_open(step)]:
            if isinstance(step, StepState):
                self._close(step, self.decision.cancel, reason)
                if tell and step.status == StepStatus.scheduled:
                    self.decision.warnings.append(
                        f"The {self.pathway.steps[step.kind].title.lower()} is no longer needed and was "
                        "cancelled; it was booked, so tell the patient."
                    )
            else:
                self.open.remove(step)
                self.decision.create.remove(step)

    def _warn(self, action: Action, completed: list[StepState]) -> None:
        self.decision.warnings.append(str(action.value))

    def _set_birads(self, action: Action, completed: list[StepState]) -> None:
        self.decision.birads = action.value

    def _dispose(self, action: Action, completed: list[StepState]) -> None:
        self.decision.disposition = action.value

    def _assessment_outcome(self, action: Action, completed: list[StepState]) -> None:
        birads = self.data["birads"]
        if birads not in self.pathway.assessment_outcomes:
            raise FieldRefused(
                Refusal(
                    f"BI-RADS {birads} is not an imaging assessment here; imaging assessments are "
                    f"{', '.join(self.pathway.assessment_outcomes)}.",
                    field="birads",
                )
            )
        self.decision.birads = birads
        if self.case.disposition:
            self.decision.clear_disposition = True
        final = self.pathway.final_assessment_step
        outcome = self.pathway.assessment_outcomes[birads]
        creates_final = any(step.name == "create" and step.value == final for step in outcome)
        if final is not None and not creates_final:
            for step in [step for step in self.open if step.kind == final]:
                if isinstance(step, StepState):
                    self._close(step, self.decision.complete, "final assessment recorded")
        self.run(outcome, completed)

    def _routine_screening(self, action: Action, completed: list[StepState]) -> None:
        screening = self.pathway.screening_step
        if screening is not None:
            for step in [step for step in self.open if step.kind == screening]:
                if step.laterality == Laterality.bilateral:
                    break
                if isinstance(step, StepState):
                    self._close(step, self.decision.cancel, "replaced by bilateral annual screening")
            self.create(screening, Laterality.bilateral)
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
            if not holds(self.pathway.stable_when, self.context):
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

    # --- missed appointments and lost patients ---------------------------------------------------
    def _start_contact_attempts(self, action: Action, completed: list[StepState]) -> None:
        missed = self._open_state_step(self.data["step"], self.pathway.no_show.steps)
        if missed.status == StepStatus.scheduled:
            self.decision.unschedule.append(StepChange(missed.id, "appointment missed"))
        self.create(self.pathway.no_show.contact_step)

    def _contact_outcome(self, action: Action, completed: list[StepState]) -> None:
        rule = self.pathway.no_show
        if not completed and self.data["outcome"] != "rescheduled":
            return  # a call or letter logged outside any contact chain: recorded, nothing planned
        recontact = any(step.kind == rule.recontact_step for step in completed)
        if recontact and self.data["outcome"] not in REACHED:
            self.create(str(rule.recontact_step))  # the lost patient is tried again, on its due rule
            return
        if self.data["outcome"] == "rescheduled":
            if "scheduled_for" not in self.data:
                raise FieldRefused(Refusal("A rescheduled appointment needs 'scheduled_for'.", field="scheduled_for"))
            missed = self._open_state_step(last_missed_step(self.case))
            self.decision.schedule.append((missed.id, self.data["scheduled_for"]))
            self._warn_late_booking(missed, self.data["scheduled_for"])
            return
        if self.data["outcome"] in REACHED or recontact:
            return  # reached: the missed step stays open (and overdue) until it is booked
        made = attempts_since_missed(self.case) + 1
        if made < len(rule.attempts):
            self.create(rule.contact_step)
            return
        due = self.anchor + timedelta(days=rule.wait_after_last_days)
        step = NewStep(kind=rule.contact_step, due_at=due)
        self.decision.create.append(step)
        self.open.append(step)
        self.decision.warnings.append(
            f"All {len(rule.attempts)} contact attempts have been made. If the patient has not been reached by "
            f"{due:%Y-%m-%d}, the case becomes lost to follow-up (it stays on the worklist)."
        )

    def _lost_to_follow_up(self, action: Action, completed: list[StepState]) -> None:
        self.decision.status = CaseStatus.lost_to_follow_up.value
        self.cancel_open(self.pathway.no_show.contact_step, "declared lost to follow-up")
        self.run(self.pathway.no_show.on_lost)
        self.decision.warnings.append(
            "The case is lost to follow-up. It stays visible on every list until the patient is reached."
        )

    def close_contact_chain(self) -> None:
        """A missed step that is done, cancelled or booked again needs no more contact attempts."""
        missed = last_missed_step(self.case)
        contact = self.pathway.no_show.contact_step
        if missed is None or self.decision.status == CaseStatus.lost_to_follow_up:
            return
        if not any(step.kind == contact and _is_open(step) for step in self.open):
            return
        changed = {change.step_id for change in self.decision.complete + self.decision.cancel}
        changed |= {step_id for step_id, _ in self.decision.schedule}
        if any(step.id in changed and step.kind == missed for step in self.case.steps):
            self.cancel_open(contact, f"the missed {self.pathway.steps[missed].title.lower()} was dealt with")

    def _open_state_step(self, kind: str | None, allowed: tuple[str, ...] = ()) -> StepState:
        for step in self.open:
            if isinstance(step, StepState) and step.kind == kind:
                return step
        if kind in self.pathway.steps:
            raise FieldRefused(Refusal(self._no_open_step(allowed, (kind,), None, "record this")))
        raise FieldRefused(Refusal("There is no open step for the missed appointment on this case."))

    # --- the invariant ------------------------------------------------------------------------------
    def finish(self) -> Decision | Refusal:
        decision = self.decision
        status = decision.status or self.case.status
        if status != CaseStatus.open:
            return decision  # closed: only handed-off screening moves; lost: its pathway's dated items stay
        workup_open = [step for step in self.open if _is_open(step) and not self.pathway.is_screening(step.kind)]
        disposition = decision.disposition or (None if decision.clear_disposition else self.case.disposition)
        if workup_open:
            return decision
        if disposition:
            decision.status = CaseStatus.closed.value
            for step in self.open:
                if not _is_open(step):
                    continue
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


def _is_open(step: StepState | NewStep) -> bool:
    return step.status in (StepStatus.pending, StepStatus.scheduled)
