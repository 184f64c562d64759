"""Roles and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    navigator = "navigator"
    radiologist = "radiologist"
    ops = "ops"
    read_only = "read_only"
    admin = "admin"


READ = frozenset(Role)  # every role may read cases and lists
OPEN_CASES = frozenset({Role.navigator})
MANAGE_ALERTS = frozenset({Role.navigator})
ASSIGN = frozenset({Role.navigator, Role.admin})
EXPORT = frozenset({Role.ops, Role.admin})
ADMINISTER = frozenset({Role.admin})

# Radiologists record assessments and pathology; navigators record every event (they also
# transcribe reads into the tracker).
RADIOLOGIST_EVENTS = frozenset(
    {
        "magnification_result",
        "assessment",
        "ultrasound_result",
        "followup_imaging_result",
        "biopsy_performed",
        "stereotactic_infeasible",
        "pathology_result",
        "repeat_biopsy_ordered",
    }
)


def may_record(role: str, event_kind: str) -> bool:
    if role == Role.navigator:
        return True
    return role == Role.radiologist and event_kind in RADIOLOGIST_EVENTS


def may_record_any(role: str) -> bool:
    return role in (Role.navigator, Role.radiologist)
