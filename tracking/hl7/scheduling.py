"""SIU^S12 booked, S13 rescheduled, S14 modified, S15 cancelled, S26 no-show.

The step is the one the accession number (SCH-27, else SCH-26) was linked to, else the patient's
one open step of the exam's kinds (AIS-3). A booking or a new time is recorded with the pathway's
booking event for the step (its `schedules`), a no-show with its missed-appointment event, each
only when exactly one step matches and the pathway accepts it. Out of order (a reschedule or a
no-show for a step not booked here, a booking for one already booked at another time) and every
cancellation wait in the HL7 inbox: the interface never guesses what happened in between.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracking.cases.errors import WorkupError
from tracking.hl7.context import Context, Identified
from tracking.hl7.inbox import Proposal
from tracking.hl7.interpretation import Interpretation
from tracking.hl7.matching import Match, booking_event, by_accession, no_show_event, open_matches, step_fields
from tracking.hl7.observations import Exam, read_exam
from tracking.pathway.definition import EventRule
from tracking.pathway.engine import CLOCK_SKEW
from tracking.pathway.vocabulary import HL7InboxKind, StepStatus

WHAT = {"S12": "booking", "S13": "reschedule", "S14": "change", "S15": "cancellation", "S26": "no-show"}
SAME_TIME = 60  # seconds: a booking within a minute of the stored one is the same booking


def handle_schedule(context: Context) -> Interpretation:
    trigger = context.reader.message_type().split("^")[1]
    return _Schedule(context, trigger).decide()


class _Schedule:
    def __init__(self, context: Context, trigger: str):
        self.context = context
        self.trigger = trigger
        reader = context.reader
        sch, ais = reader.first("SCH"), reader.first("AIS")
        self.exam: Exam = read_exam(context, ais, service_field=3, accession_fields=(("SCH", 27), ("SCH", 26)))
        if self.exam.procedure is None and sch is not None:  # some feeds name the exam in SCH-7 only
            self.exam = read_exam(context, sch, service_field=7, accession_fields=(("SCH", 27), ("SCH", 26)))
        start = reader.value(ais, 4, 1) or reader.value(sch, 11, 4) or reader.value(reader.first("TQ1"), 7, 1)
        self.start, self.time_problem = context.moment(start, "the appointment time (AIS-4, SCH-11)")
        self.patient: Identified = context.identify()

    @property
    def what(self) -> str:
        return WHAT.get(self.trigger, "scheduling message")

    def decide(self) -> Interpretation:
        context, procedure = self.context, self.exam.procedure
        if procedure is None:
            return context.ignored(
                f"procedure code {self.exam.code[:40] or '(none)'} is not in the HL7 mapping: not followed"
            )
        patient = self.patient.patient
        linked = by_accession(context.session, self.exam.accession)
        if linked and patient is not None and any(match.case.patient_id != patient.id for match in linked):
            return self.queue(
                "The accession number is linked to a case of another patient than this message names.", []
            )
        if patient is None and not linked:
            if not procedure.diagnostic:
                return context.ignored(f"{procedure.title} {self.what} for a patient not followed here")
            return self.queue(
                f"A {self.what} for a patient not known here ({self.patient.problem or 'unknown MRN'}).", []
            )
        matches = (
            [match for match in linked if _is_open(match)]
            if linked
            else (open_matches(context.session, patient.id, procedure.steps, self.exam.side) if patient else [])
        )
        if not matches and not procedure.diagnostic and not linked:
            return context.ignored(f"{procedure.title} {self.what} for a patient with no open step of that kind here")
        if len(matches) != 1:
            cases = sorted({match.case.id for match in matches})
            why = (
                f"several open steps match it (case {', '.join(map(str, cases))})"
                if matches
                else "no open step of the patient's cases is this exam"
            )
            return self.queue(f"The {self.what} cannot be matched to one step: {why}.", matches)
        if self.trigger == "S15":
            return self.queue(
                "The RIS cancelled this appointment. The step stays open: rebook it, or record why it is no "
                "longer needed.",
                matches,
            )
        if self.time_problem and self.trigger != "S26":
            return self.queue(self.time_problem, matches)
        if self.trigger == "S26":
            return self.no_show(matches[0])
        return self.booking(matches[0])

    # --- bookings -----------------------------------------------------------------------------------
    def booking(self, match: Match) -> Interpretation:
        step, now = match.step, self.context.now
        rule = booking_event(match.pathway, step.kind)
        if rule is None:
            return self.queue(f"The case's pathway has no event that books {step.kind.replace('_', ' ')}.", [match])
        if self.start is None:
            return self.queue(f"The {self.what} gives no appointment time (AIS-4, SCH-11).", [match])
        booked = step.status == StepStatus.scheduled
        same = (
            booked
            and step.scheduled_at is not None
            and abs((step.scheduled_at - self.start).total_seconds()) < SAME_TIME
        )
        if same:
            if self.trigger == "S14":
                return self.context.ignored(
                    f"appointment of step {step.id} changed in nothing the tracker follows", case_id=match.case.id
                )
            return self.context.applied(f"step {step.id} is already booked for that time", case_id=match.case.id)
        if self.trigger == "S12" and booked:
            return self.queue(
                "A new booking for a step already booked for another time; confirm the new time.", [match], rule
            )
        if self.trigger in ("S13", "S14") and not booked:
            return self.queue(
                f"A {self.what} arrived before any booking of this step here (out of order); confirm the time.",
                [match],
                rule,
            )
        if self.start < now - CLOCK_SKEW:
            return self.queue("The appointment time has already passed; confirm it was booked then.", [match], rule)
        outcome = self.context.record(match.case.id, rule.kind, self.booking_data(rule, match))
        if isinstance(outcome, WorkupError):
            return self.queue(f"The pathway refused it: {outcome}", [match], rule)
        return self.context.applied(
            f"{rule.kind} recorded on case {match.case.id} (step {step.id}, event {outcome.event_id})",
            case_id=match.case.id,
        )

    def booking_data(self, rule: EventRule, match: Match) -> dict[str, Any]:
        data = step_fields(rule, match.step.kind, self.exam.procedure)
        if self.start is not None:
            data["scheduled_for"] = self.start
            if self.start < self.context.now - CLOCK_SKEW and "past_booking" in rule.fields:
                data["past_booking"] = True
        return data

    # --- missed appointments ----------------------------------------------------------------------
    def no_show(self, match: Match) -> Interpretation:
        step = match.step
        rule = no_show_event(match.pathway, step.kind)
        if rule is None:
            return self.queue("The case's pathway records no missed appointment for this step.", [match])
        if step.status != StepStatus.scheduled:
            return self.queue("A no-show for a step not booked here (out of order); confirm it.", [match], rule)
        outcome = self.context.record(
            match.case.id, rule.kind, step_fields(rule, step.kind, self.exam.procedure), self.missed_at()
        )
        if isinstance(outcome, WorkupError):
            return self.queue(f"The pathway refused it: {outcome}", [match], rule)
        return self.context.applied(
            f"{rule.kind} recorded on case {match.case.id} (step {step.id}, event {outcome.event_id})",
            case_id=match.case.id,
        )

    def missed_at(self) -> datetime | None:
        """The missed appointment's time when it has passed (the event is dated then), else now."""
        if self.start is not None and self.start <= self.context.now:
            return self.start
        return None

    # --- writing ----------------------------------------------------------------------------------
    def queue(self, reason: str, matches: list[Match], rule: EventRule | None = None) -> Interpretation:
        """A prefilled booking or no-show when one step fits and the pathway has the event; else a review."""
        context = self.context
        details = context.details(
            self.patient,
            self.exam.describe()
            | {"trigger": self.trigger, "appointment_at": self.start.isoformat() if self.start else None},
        )
        if matches:
            details["candidates"] = [match.describe() for match in matches]
        patient_id = self.patient.patient.id if self.patient.patient else None
        if len(matches) == 1:
            match = matches[0]
            details["step_id"] = match.step.id
            if rule is not None:
                data = self.booking_data(rule, match) if rule.schedules else step_fields(rule, match.step.kind, None)
                return context.queue(
                    Proposal(
                        HL7InboxKind.record_event,
                        reason,
                        case_id=match.case.id,
                        patient_id=patient_id,
                        event_kind=rule.kind,
                        payload=data,
                        details=details,
                        occurred_at=self.missed_at() if not rule.schedules else None,
                    )
                )
            return context.queue(
                Proposal(HL7InboxKind.review, reason, case_id=match.case.id, patient_id=patient_id, details=details)
            )
        cases = context.active_cases(self.patient.patient)
        return context.queue(
            Proposal(
                HL7InboxKind.review,
                reason,
                case_id=cases[0].id if len(cases) == 1 else None,
                patient_id=patient_id,
                details=details,
            )
        )


def _is_open(match: Match) -> bool:
    return match.step.status in (StepStatus.pending, StepStatus.scheduled, StepStatus.handed_off)
