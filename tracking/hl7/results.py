"""ORU^R01: a radiology result (or a pathology report) for a step of a case.

Applied by itself, through record_event with the pathway's event for the step, only when: the
result is final (OBR-25 F); its accession number was linked to the step by its order (unless the
mapping lets a procedure code alone match); exactly one open step matches; every required field
is coded (a BI-RADS category only in the report's words is a suggestion); the coded density agrees
with the case; and the pathway's guards accept it. Anything else is queued in the HL7 inbox,
prefilled with what is known. A corrected result after a final one also raises an alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from tracking.alerts.corrected_results import raise_corrected_result_alert
from tracking.cases.errors import WorkupError
from tracking.cases.models import Case, Step
from tracking.hl7.context import Context, Identified
from tracking.hl7.inbox import Proposal
from tracking.hl7.interpretation import Interpretation
from tracking.hl7.matching import Match, by_accession, link_accession, open_matches, result_event, step_fields
from tracking.hl7.observations import Exam, Findings, read_exam, read_findings, result_time
from tracking.pathway.definition import EventRule
from tracking.pathway.vocabulary import HL7InboxKind, StepStatus

FINAL, CORRECTED = "F", "C"
PRELIMINARY = {"P": "preliminary", "R": "not yet verified", "I": "in progress", "S": "scheduled", "A": "partial"}
CANCELLED = {"X": "cancelled", "D": "deleted"}


def handle_result(context: Context) -> Interpretation:
    reader = context.reader
    requests = reader.segments("OBR")
    if len(requests) != 1:
        what = "names no exam (no OBR segment)" if not requests else f"carries {len(requests)} exams (OBR segments)"
        return context.review(f"The result {what}; a person matches it to the case.", patient=context.identify())
    obr = requests[0]
    exam = read_exam(context, obr, accession_fields=(("", 3), ("ORC", 3)))
    if exam.procedure is None:
        return context.ignored(f"procedure code {exam.code[:40] or '(none)'} is not in the HL7 mapping: not followed")
    patient = context.identify()
    observations = reader.segments("OBX")
    findings = read_findings(context, observations)
    observed_at, time_problem = result_time(context, obr, observations)
    status = reader.value(obr, 25, 1).upper()
    result = _Result(context, exam, patient, findings, observed_at, status)
    if time_problem:
        result.problems.append(time_problem)
    return result.decide()


class _Result:
    def __init__(
        self,
        context: Context,
        exam: Exam,
        patient: Identified,
        findings: Findings,
        observed_at: datetime | None,
        status: str,
    ):
        self.context = context
        self.exam = exam
        self.procedure = exam.procedure
        self.patient = patient
        self.findings = findings
        self.observed_at = observed_at
        self.status = status
        self.problems: list[str] = list(findings.problems)

    # --- which step -------------------------------------------------------------------------------
    def decide(self) -> Interpretation:
        assert self.procedure is not None
        patient = self.patient.patient
        linked = by_accession(self.context.session, self.exam.accession)
        if linked and (patient is None or any(match.case.patient_id != patient.id for match in linked)):
            return self.queue(
                "The accession number is linked to a case of another patient than the one this "
                "result names (or the result names no patient known here).",
                linked,
            )
        matches = linked or (
            open_matches(self.context.session, patient.id, self.procedure.steps, self.exam.side)
            if patient is not None
            else []
        )
        if not linked and not matches and not self.procedure.diagnostic:
            return self.context.ignored(
                f"{self.procedure.title} for a patient with no open step of that kind here: not followed"
            )
        if self.status == CORRECTED:
            return self.corrected(linked, matches)
        if self.status in PRELIMINARY:
            return self.queue(
                f"A {PRELIMINARY[self.status]} result (OBR-25 {self.status}) is never applied by "
                "itself; the final report will follow.",
                matches,
            )
        if self.status in CANCELLED:
            return self.queue(f"The RIS {CANCELLED[self.status]} this result (OBR-25 {self.status}).", matches)
        if self.status != FINAL:
            shown = f"'{self.status[:10]}'" if self.status else "missing"
            return self.queue(f"The result status (OBR-25) is {shown}; only a final result (F) is applied.", matches)
        if patient is None:
            return self.queue(
                f"No patient here has this MRN ({self.patient.problem or 'unknown patient'}); the "
                "result waits for a person to find the case.",
                [],
            )
        if self.procedure.review:
            return self.queue(self.procedure.review, matches)
        if linked and any(
            match.step.status not in (StepStatus.pending, StepStatus.scheduled, StepStatus.handed_off)
            for match in linked
        ):
            return self.queue("The result's step is already completed or cancelled on the case.", linked)
        if not linked and self.context.mapping.results_need_order:
            why = (
                "its accession number is linked to no step"
                if self.exam.accession
                else "it carries no accession number (OBR-3, ORC-3)"
            )
            return self.queue(
                f"The result arrived before its order: {why}. A result is applied by itself only "
                "once its order has linked it to a step.",
                matches,
            )
        if len(matches) != 1:
            return self.queue(self.not_one(matches), matches)
        return self.apply(matches[0])

    def not_one(self, matches: list[Match]) -> str:
        kinds = ", ".join(kind.replace("_", " ") for kind in self.procedure.steps) if self.procedure else ""
        if not matches:
            active = self.context.active_cases(self.patient.patient)
            where = f"case {', '.join(str(case.id) for case in active)}" if active else "no open case"
            return f"No open step for this exam ({kinds}) on the patient's {where}."
        cases = sorted({int(match.case.id or 0) for match in matches})
        if len(cases) > 1:
            listed = ", ".join(map(str, cases))
            return f"The patient has {len(cases)} open cases with a step for this exam (cases {listed})."
        return f"Case {cases[0]} has {len(matches)} open steps this exam could be."

    # --- corrected results ------------------------------------------------------------------------
    def corrected(self, linked: list[Match], matches: list[Match]) -> Interpretation:
        final = self.completed_step(linked)
        if final is None:
            return self.queue(
                "A corrected result (OBR-25 C) arrived, but no final result is recorded for this exam "
                "here; a person compares them.",
                matches,
            )
        case, step, event = final
        alert_id = raise_corrected_result_alert(self.context.session, case.id, now=self.context.now)
        match = Match(case, step)
        return self.queue(
            f"A corrected result (OBR-25 C) arrived after the final one was recorded (event {event}). Compare "
            "them and record what changed, or dismiss with a reason.",
            [match],
            alert_id=alert_id,
            corrected_event=event,
        )

    def completed_step(self, linked: list[Match]) -> tuple[Case, Step, int | None] | None:
        """The step the final result completed: the accession's, else the patient's latest of the exam's kinds."""
        session = self.context.session
        done = [match for match in linked if match.step.status == StepStatus.completed]
        if not done and not linked and self.patient.patient is not None and self.procedure is not None:
            query = (
                select(Case, Step)
                .join(Step, col(Step.case_id) == Case.id)
                .where(
                    Case.patient_id == self.patient.patient.id,
                    col(Step.kind).in_(self.procedure.steps),
                    Step.status == StepStatus.completed,
                )
                .order_by(col(Step.completed_at).desc(), col(Step.id).desc())
                .limit(1)
            )
            done = [Match(case, step) for case, step in session.exec(query)]
        if not done:
            return None
        match = done[0]
        event_id = (match.step.result or {}).get("event_id")
        return match.case, match.step, event_id if isinstance(event_id, int) else None

    # --- applying ---------------------------------------------------------------------------------
    def apply(self, match: Match) -> Interpretation:
        rule = result_event(match.pathway, match.step.kind)
        if rule is None:
            return self.queue("The case's pathway has no single event that records this step's result.", [match])
        payload, reasons = self.payload(rule, match)
        if reasons or self.problems:
            return self.queue(
                " ".join([*reasons, *(problem[:1].upper() + problem[1:] + "." for problem in self.problems)]), [match]
            )
        outcome = self.context.record(match.case.id, rule.kind, payload, self.observed_at)
        if isinstance(outcome, WorkupError):
            return self.queue(f"The pathway refused it: {outcome}", [match])
        if self.exam.accession and not match.step.accession_number and len(self.exam.accession) <= 64:
            link_accession(
                self.context.session,
                match.step.id,
                self.exam.accession,
                actor=self.context.actor,
                now=self.context.now,
                message_id=self.context.message_id,
            )
        state = "already recorded" if outcome.replayed else "recorded"
        return self.context.applied(
            f"{rule.kind} {state} on case {match.case.id} (step {match.step.id}, event {outcome.event_id})",
            case_id=match.case.id,
        )

    def payload(self, rule: EventRule, match: Match) -> tuple[dict[str, Any], list[str]]:
        """The event's data from the message, and why it cannot be applied as it is (empty: it can)."""
        findings, reasons = self.findings, []
        data: dict[str, Any] = step_fields(rule, match.step.kind, self.procedure)
        for name, values in findings.fields.items():
            if name in rule.fields:
                if len(values) > 1:
                    reasons.append(f"The report codes several values for {name.replace('_', ' ')}.")
                data[name] = values[0]
        for name in self.context.mapping.report_into_fields:
            field = rule.fields.get(name)
            if field is not None and field.type == "text" and findings.text and name not in data:
                data[name] = findings.text
        if "birads" in rule.fields:
            reasons += self.birads(data)
        if len(findings.density) > 1:
            reasons.append(f"The report codes several densities ({', '.join(findings.density)}).")
        elif findings.density and findings.density[0] != match.case.density:
            reasons.append(
                f"The report gives breast density {findings.density[0]}; the case has "
                f"{match.case.density}. Confirm the result, and the density with the radiologist."
            )
        missing = [name.replace("_", " ") for name, field in rule.fields.items() if field.required and name not in data]
        if missing:
            reasons.append(f"The message does not give what {rule.title.lower()} needs: {', '.join(missing)}.")
        return data, reasons

    def birads(self, data: dict[str, Any]) -> list[str]:
        coded, words = self.findings.birads, self.findings.birads_in_text
        if len(coded) > 1:
            return [f"The report codes several BI-RADS categories ({', '.join(coded)})."]
        if coded:
            data["birads"] = coded[0]
            if words and set(words) != {coded[0]}:
                return [f"The coded BI-RADS {coded[0]} and the report's words ({', '.join(words)}) disagree."]
            return []
        if len(words) == 1:
            data["birads"] = words[0]
            return [
                f"BI-RADS {words[0]} is named only in the report's words, never applied by itself: "
                "confirm the category."
            ]
        if len(words) > 1:
            return [f"The report's words name several BI-RADS categories ({', '.join(words)}) and none is coded."]
        return []

    # --- queueing ---------------------------------------------------------------------------------
    def queue(
        self, reason: str, matches: list[Match], *, alert_id: int | None = None, corrected_event: int | None = None
    ) -> Interpretation:
        """Queue a prefilled event when one step fits (else a review) with what the message says."""
        context, patient = self.context, self.patient
        details = context.details(patient, self.exam.describe() | self.report_details())
        if corrected_event is not None:
            details["corrected_event_id"] = corrected_event
        patient_id = patient.patient.id if patient.patient else None
        if len(matches) == 1:
            match = matches[0]
            rule = result_event(match.pathway, match.step.kind)
            corrected = context.mapping.corrected_result_event
            if match.step.status == StepStatus.completed and corrected:  # what a corrected result changes
                rule = match.pathway.events.get(corrected) or rule
            details |= {"step_id": match.step.id, "step": match.step.kind}
            if rule is not None:
                payload, _ = self.payload(rule, match)
                payload = {name: value for name, value in payload.items() if name in rule.fields}
                return context.queue(
                    Proposal(
                        HL7InboxKind.record_event,
                        reason,
                        case_id=match.case.id,
                        patient_id=patient_id,
                        event_kind=rule.kind,
                        payload=payload,
                        details=details,
                        occurred_at=self.observed_at,
                        alert_id=alert_id,
                    )
                )
        if matches:
            details["candidates"] = [match.describe() for match in matches]
        cases = context.active_cases(patient.patient)
        case_id = (
            matches[0].case.id
            if len({match.case.id for match in matches}) == 1 and matches
            else (cases[0].id if len(cases) == 1 else None)
        )
        return context.queue(
            Proposal(
                HL7InboxKind.review,
                reason,
                case_id=case_id,
                patient_id=patient_id,
                details=details,
                occurred_at=self.observed_at,
                alert_id=alert_id,
            )
        )

    def report_details(self) -> dict[str, Any]:
        findings = self.findings
        return {
            "result_status": self.status[:10] or None,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
            "coded_birads": findings.birads,
            "birads_in_text": findings.birads_in_text,
            "density": findings.density,
            "report_text": findings.text,
        }
