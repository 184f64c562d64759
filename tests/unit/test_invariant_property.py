"""Property: whatever clinicians record, in whatever order, the engine keeps its promises.

From random openings, random sequences of events (mostly valid, sometimes not) are recorded at
increasing times on a MemoryCase. After every event:
  (a) an open case has at least one open workup (non-screening) step, and every open step is due;
      a closed case has no open step left;
  (b) a refusal changes nothing, and the engine never mutates the state or data it is given;
  (c) no accepted event breaks a safety guard G1-G6.

Event data is generated from the field rules of the pathway itself, so events added to the YAML
are exercised too.
"""

from __future__ import annotations

import copy
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.factories import MemoryCase
from tracking.pathway.contact import attempts_since_missed
from tracking.pathway.decision import CaseState, Decision, Refusal
from tracking.pathway.definition import EventRule, FieldRule, Pathway
from tracking.pathway.vocabulary import CaseStatus

from .support import NOW

# Hypothesis caches source constants under ./.hypothesis even with database=None; keep the
# working tree clean unless the caller chose a storage directory.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "breast-workup-hypothesis"))

HIGH_CONCERN = "high"
LOW_BIRADS = {"1", "2", "3"}
SUSPICIOUS_BIRADS = {"4A", "4B", "4C", "5"}
BIOPSY_KINDS = {"biopsy_scheduled", "biopsy_performed"}
MAGNIFICATION_FIRST = BIOPSY_KINDS | {"stereotactic_infeasible", "repeat_biopsy_ordered"}
UNKNOWN_FACILITY = 99
TEXTS = ["", "   ", "ok", "no", "facility closed, records destroyed", "second reader agrees", "  padded  "]


def chance(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in `one_in` draws.

    Hypothesis favours the bounds of an integer range, so the rare outcome is a residue away from
    them (and shrinking towards 0 gives False: failures shrink to the ordinary path).
    """
    assert one_in > 2
    return st.integers(0, 1_000_000).map(lambda value: value % one_in == one_in // 2)


def sometimes(valid: st.SearchStrategy, invalid: st.SearchStrategy, one_in: int = 15) -> st.SearchStrategy:
    """Mostly `valid`, one time in `one_in` `invalid`."""
    return chance(one_in).flatmap(lambda rare: invalid if rare else valid)


def birads_values(pathway: Pathway) -> st.SearchStrategy:
    good = list(pathway.choices("birads"))
    return sometimes(
        st.sampled_from(good) | st.sampled_from(good).map(str.lower),
        st.sampled_from(["7", "4", "", None]),
    )


def field_value(pathway: Pathway, case: CaseState, rule: EventRule, field: FieldRule, at) -> st.SearchStrategy:
    kind = field.type
    if kind == "birads":
        return birads_values(pathway)
    if field.name == "modality":
        return sometimes(
            st.sampled_from(["mammography", "Mammography", " mammography "]),
            st.sampled_from(["ultrasound", "MRI"]),
            one_in=5,
        )
    if kind == "text":
        return sometimes(st.sampled_from(TEXTS), st.sampled_from([7, "\t", "ü"]))
    if kind == "integer":
        if field.name == "facility_id":
            known = sorted({s.facility_id for s in case.steps if s.facility_id is not None}) or [UNKNOWN_FACILITY]
            return sometimes(
                st.sampled_from(known) | st.sampled_from(known).map(str),
                st.sampled_from([UNKNOWN_FACILITY, "eleven", -1]),
                one_in=8,
            )
        return sometimes(st.integers(0, 10), st.sampled_from(["three", 2.5, True]))
    if kind == "number":
        return sometimes(st.integers(0, 80) | st.floats(0, 80), st.just("ten"))
    if kind == "boolean":
        return sometimes(st.booleans() | st.sampled_from(["yes", "no", "true"]), st.just("maybe"))
    if kind == "datetime":
        valid = st.integers(0, 24 * 30).map(lambda hours: (at + timedelta(hours=hours)).isoformat())
        return sometimes(valid, st.sampled_from(["2026-03-10T10:00:00", "next tuesday"]))
    if kind == "choice":
        return sometimes(st.sampled_from(field.choices), st.just("bogus"))
    if kind == "pathology":
        return st.sampled_from(pathway.choices("pathology"))
    vocabulary = pathway.vocabularies[kind]
    if kind == "stereotactic_infeasible_reasons":
        return sometimes(
            st.sampled_from(sorted(vocabulary)) | st.sampled_from(sorted(vocabulary)).map(str.upper),
            st.sampled_from(["patient_anxious", "", "  ", "too small"]),
            one_in=5,
        )
    return sometimes(st.sampled_from(sorted(vocabulary)), st.sampled_from(["spiculated", "everywhere"]))


@st.composite
def event_data(draw, pathway: Pathway, case: CaseState, kind: str, at) -> Any:
    rule = pathway.events.get(kind)
    if rule is None:
        return draw(st.fixed_dictionaries({}, optional={"findings": st.just("x")}))
    data: dict[str, Any] = {}
    for name, field in rule.fields.items():
        present = not draw(chance(40)) if field.required else draw(chance(3))
        if present:
            data[name] = draw(field_value(pathway, case, rule, field, at))
    category = data.get("category")
    if kind == "pathology_result" and category in pathway.vocabularies["pathology"] and not draw(chance(5)):
        data["diagnosis"] = draw(st.sampled_from(pathway.vocabularies["pathology"][data["category"]]))
    if draw(chance(30)):
        data["colour"] = "blue"
    if draw(chance(60)):
        return "not a mapping"
    return data


@st.composite
def event_kind(draw, pathway: Pathway, case: CaseState) -> str:
    """Mostly an event that acts on an open step (so cases move along the pathway), sometimes any."""
    if draw(chance(25)):
        return "mri_result"
    if not draw(chance(4)):
        open_steps = sorted({step.kind for step in case.steps if step.is_open})
        workup = [kind for kind in open_steps if not pathway.is_screening(kind)]
        if workup and (len(workup) == len(open_steps) or not draw(chance(5))):
            open_steps = workup
        if open_steps:
            target = draw(st.sampled_from(open_steps))
            linked = sorted(
                kind
                for kind, rule in pathway.events.items()
                if target in rule.completes + rule.cancels + rule.schedules
                or (kind == "assessment" and target == "final_assessment")
            )
            if linked:
                return draw(st.sampled_from(linked))
    return draw(st.sampled_from(sorted(pathway.events)))


@st.composite
def openings(draw) -> dict[str, Any]:
    return {
        "laterality": draw(st.sampled_from(["left", "right", "bilateral"])),
        "density": draw(st.sampled_from(["a", "b", "c", "d"])),
        "birads": "0",
        "facility_ids": tuple(draw(st.lists(st.integers(1, 40), max_size=3, unique=True))),
    }


# --- the checks ---------------------------------------------------------------------------------------------


def check_invariant(pathway: Pathway, case: MemoryCase) -> None:
    state = case.state
    open_steps = [step for step in state.steps if step.is_open]
    if state.status == CaseStatus.open:
        workup = [step for step in open_steps if not pathway.is_screening(step.kind)]
        assert workup, f"open case with no open workup step: {case.open_kinds()}"
        undated = [step.kind for step in open_steps if step.due_at is None]
        assert not undated, f"open steps without a due time: {undated}"
    if state.status == CaseStatus.closed:
        assert open_steps == [], f"closed case still has open steps: {case.open_kinds()}"
        assert state.disposition is not None
    if state.status == CaseStatus.lost_to_follow_up:
        assert open_steps, "a lost case keeps a dated item (another try to reach the patient)"


def check_guards(pathway: Pathway, before: CaseState, kind: str, raw: Any, decision: Decision) -> None:
    """No accepted event may break G1-G6 (checked on the data the engine stored, and on the raw data)."""
    data = decision.data
    magnified = before.has_completed("magnification_views")
    if before.status == CaseStatus.closed:
        assert pathway.events[kind].on_closed_case, f"{kind} accepted on a closed case"
    # G1
    if kind in MAGNIFICATION_FIRST:
        assert magnified, f"G1: {kind} accepted before magnification views"
    # G2
    guidance = str(raw.get("guidance", "")).strip().lower() if isinstance(raw, dict) else ""
    if kind in BIOPSY_KINDS:
        assert data.get("guidance") != "ultrasound" and guidance != "ultrasound", f"G2: ultrasound-guided {kind}"
    if kind == "ultrasound_result":
        assert "birads" not in data and "morphology" not in data, f"G2: ultrasound characterised: {data}"
    if kind == "magnification_result" and data.get("modality"):
        assert data["modality"].lower() == "mammography", f"G2: magnification by {data['modality']}"
    if kind == "assessment" and data.get("birads") != "0":
        assert magnified, "G2: assessment before magnification"
    # G3
    if kind == "biopsy_performed" and data.get("procedure") == "stereotactic":
        assert data.get("specimen_radiograph") == "calcifications_confirmed", f"G3: {data}"
    # G4
    if kind == "prior_films_unobtainable":
        assert len(str(data.get("reason", "")).strip()) >= 3, f"G4: {data}"
    # G5
    concern = pathway.vocabularies["morphology"].get(data.get("morphology"))
    if data.get("birads") in LOW_BIRADS and concern == HIGH_CONCERN:
        assert data.get("override_reason"), f"G5: {kind} {data} without override reason"
        assert any("override reason recorded" in warning for warning in decision.warnings)
    if data.get("birads") in SUSPICIOUS_BIRADS and concern == "benign" and kind != "followup_imaging_result":
        assert data.get("override_reason"), f"G5: {kind} {data} suspicious on benign morphology without a reason"
    if data.get("birads") in LOW_BIRADS and data.get("distribution") in ("linear", "segmental"):
        assert data.get("override_reason"), f"G5: {kind} {data} low on a suspicious distribution without a reason"
    # the density statement, and declaring a patient lost
    if kind == "result_letter_sent" and data.get("density_sentence_included") is False:
        assert data.get("override_reason"), "lay summary without the density statement and no reason"
    if kind == "lost_to_follow_up_declared" and not data.get("override_reason"):
        assert attempts_since_missed(before) >= len(pathway.no_show.attempts), "declared lost before every attempt"
    # G6
    if kind == "stereotactic_infeasible":
        assert data.get("reason") in pathway.vocabularies["stereotactic_infeasible_reasons"], f"G6: {data}"


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(opening=openings(), draw=st.data())
def test_engine_invariants_hold_for_any_event_sequence(pathway, opening, draw):
    case = MemoryCase.open(pathway, NOW, **opening)
    check_invariant(pathway, case)
    at = NOW
    closed_events = 0
    count = draw.draw(st.integers(1, 25) | st.integers(15, 25), label="events")
    for _ in range(count):
        at = at + timedelta(hours=draw.draw(st.integers(0, 24 * 100), label="hours later"))
        kind = draw.draw(event_kind(pathway, case.state), label="kind")
        raw = draw.draw(event_data(pathway, case.state, kind, at), label="data")
        now = at - timedelta(days=1) if draw.draw(chance(40), label="clock skew") else at

        before = case.state
        snapshot = copy.deepcopy(before)
        sent = copy.deepcopy(raw)
        result = case.record(kind, raw, at, now)

        assert isinstance(result, Decision | Refusal), result
        assert raw == sent, "the engine changed the event data it was given"
        assert before == snapshot, "the engine changed the case state it was given"
        if isinstance(result, Refusal):
            assert case.state is before, "a refusal was applied"
            assert result.message
            assert result.guard in (None, "G1", "G2", "G3", "G4", "G5", "G6")
        else:
            assert now >= at - timedelta(minutes=5), "an event dated in the future was accepted"
            check_guards(pathway, before, kind, raw, result)
            assert case.state.history[-1].kind == kind
            event(f"accepted {kind}")
        check_invariant(pathway, case)

        if case.state.status == CaseStatus.closed:
            closed_events += 1
            event(f"closed ({case.state.disposition})")
            if closed_events > 2:
                break
