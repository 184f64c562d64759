"""Cases with known outcomes for the outcomes audit, built through the real services (open_case and
record_event), and the figures a person works out by hand for them.

The centre is in New York (WORKUP_TIMEZONE=America/New_York) and the period is the first quarter
of 2026 on that clock. Each case says who recorded its reads and when; EXPECTED holds the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from tests.factories import STEREOTACTIC_DONE, seed_opening
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.users.service import create_user

NEW_YORK = ZoneInfo("America/New_York")
ZONE = "America/New_York"
PERIOD = ("2026-01-01", "2026-03-31")
RADIOLOGISTS = {"rad-a": "Ann Radiologist", "rad-b": "Ben Radiologist"}
NAVIGATOR = "nav-1"  # a user, but not a radiologist: their reads are "not recorded"
PASSWORD = "correct-horse-battery"

SUSPICIOUS = {"morphology": "fine_pleomorphic", "distribution": "grouped"}
INTERMEDIATE = {"morphology": "amorphous", "distribution": "grouped"}


def ny(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    """A moment on the centre's clock (New York), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def add_users(session: Session) -> None:
    now = datetime(2025, 12, 1, tzinfo=UTC)
    for username, name in RADIOLOGISTS.items():
        create_user(session, username=username, display_name=name, role="radiologist", password=PASSWORD,
                    actor="test", now=now)  # fmt: skip
    create_user(session, username=NAVIGATOR, display_name="Nia Navigator", role="navigator", password=PASSWORD,
                actor="test", now=now)  # fmt: skip


@dataclass
class Story:
    """One calcification (or mass) case: opened a day before its first read, then events as told."""

    session: Session
    case_id: int

    @classmethod
    def open(cls, session: Session, mrn: str, first_read: datetime, **opening: Any) -> Story:
        values = {"mrn": mrn, "facilities": [], "density": "b", **opening}
        opened = open_case(session, seed_opening(**values), actor="nav", now=first_read - timedelta(days=1))
        return cls(session, opened.case_id)

    def record(self, kind: str, data: dict[str, Any], actor: str, at: datetime) -> Story:
        record_event(self.session, self.case_id, kind, data, actor=actor, now=at)
        return self

    def read(self, birads: str, actor: str, at: datetime, findings: dict[str, str] = SUSPICIOUS) -> Story:
        return self.record("magnification_result", {"birads": birads, **findings}, actor, at)

    def biopsy(self, actor: str, at: datetime) -> Story:
        return self.record("biopsy_performed", STEREOTACTIC_DONE, actor, at)

    def pathology(self, category: str, diagnosis: str, actor: str, at: datetime, concordant: bool = True) -> Story:
        return self.record("pathology_result", {"category": category, "diagnosis": diagnosis,
                                                "concordant": concordant}, actor, at)  # fmt: skip


def commit_known_outcomes(engine: Engine) -> dict[str, int]:
    """build_known_outcomes in a transaction of its own, committed (for the command line and the pages)."""
    with Session(engine) as session:
        cases = build_known_outcomes(session)
        session.commit()
    return cases


def build_known_outcomes(session: Session) -> dict[str, int]:
    """The cases of the hand-worked example; returns case ids by name."""
    add_users(session)
    cases: dict[str, int] = {}

    def story(name: str, first_read: datetime, **opening: Any) -> Story:
        made = Story.open(session, f"OUTCOMES-{name.upper()}", first_read, **opening)
        cases[name] = made.case_id
        return made

    # Ann (rad-a)
    story("dcis", ny(1, 10)).read("4B", "rad-a", ny(1, 10)).biopsy("rad-a", ny(1, 15)) \
        .pathology("malignant", "dcis", "rad-a", ny(1, 20))  # fmt: skip
    story("invasive", ny(1, 12)).read("5", "rad-a", ny(1, 12)).biopsy("rad-a", ny(1, 14)) \
        .pathology("malignant", "invasive_carcinoma", "rad-a", ny(1, 22))  # fmt: skip
    story("benign", ny(2, 1)).read("4A", "rad-a", ny(2, 1)).biopsy("rad-a", ny(2, 3)) \
        .pathology("benign", "fibrocystic_change", "rad-a", ny(2, 5))  # fmt: skip
    # high-risk on the first core, a repeat biopsy, DCIS: one biopsy, one cancer (DCIS), 23 days
    story("repeat", ny(2, 2)).read("4A", "rad-a", ny(2, 2)).biopsy("rad-a", ny(2, 4)) \
        .pathology("high_risk", "adh", "rad-a", ny(2, 6)) \
        .record("repeat_biopsy_ordered", {"reason": "ADH on core; second opinion asked for more tissue"},
                "rad-a", ny(2, 10)) \
        .biopsy("rad-a", ny(2, 20)).pathology("malignant", "dcis", "rad-a", ny(2, 25))  # fmt: skip
    story("result_owed", ny(3, 1)).read("4C", "rad-a", ny(3, 1)).biopsy("rad-a", ny(3, 3))
    # the last evening of the period in New York (already 1 April in UTC): in the period
    story("last_evening", ny(3, 31, 12)).read("4A", "rad-a", ny(3, 31, 23, 30))
    # a BI-RADS 3 by Ben, then Ann's BI-RADS 4B: the case is Ann's recommendation
    story("upgraded", ny(1, 3)).read("3", "rad-b", ny(1, 3), INTERMEDIATE) \
        .record("assessment", {"birads": "4B"}, "rad-a", ny(1, 9))  # fmt: skip

    # Ben (rad-b)
    story("biopsy_owed", ny(3, 5)).read("4B", "rad-b", ny(3, 5))
    story("probably_benign", ny(1, 20)).read("3", "rad-b", ny(1, 20), INTERMEDIATE)
    story("benign_read", ny(2, 10)).read("2", "rad-b", ny(2, 10), {"morphology": "coarse_popcorn",
                                                                   "distribution": "diffuse"})  # fmt: skip
    # 4B, then BI-RADS 2 after comparison: the biopsy is cancelled, never done
    story("withdrawn", ny(1, 25)).read("4B", "rad-b", ny(1, 25), INTERMEDIATE) \
        .record("assessment", {"birads": "2"}, "rad-b", ny(1, 28))  # fmt: skip
    story("high_risk", ny(3, 10)).read("4A", "rad-b", ny(3, 10)).biopsy("rad-b", ny(3, 12)) \
        .pathology("high_risk", "lcis", "rad-b", ny(3, 15))  # fmt: skip
    # a mass (masses pathway): the diagnostic mammogram is the recommendation, an ultrasound-guided biopsy
    mass = story("mass", ny(2, 20), finding_type="mass")
    mass.record("diagnostic_mammogram_result", {"birads": "4C", "seen_on_mammography": True}, "rad-b", ny(2, 20))
    mass.record("ultrasound_result", {"birads": "4C", "ultrasound_finding": "solid_mass"}, "rad-b", ny(2, 20, 10))
    mass.record("biopsy_performed", {"route": "ultrasound", "cores": 4, "clip_placed": True}, "rad-b", ny(2, 22))
    mass.pathology("malignant", "invasive_carcinoma", "rad-b", ny(3, 1))

    # a navigator entered the read: not recorded
    story("by_navigator", ny(2, 15)).read("4A", NAVIGATOR, ny(2, 15)).biopsy(NAVIGATOR, ny(2, 18)) \
        .pathology("benign", "fibrocystic_change", NAVIGATOR, ny(2, 25))  # fmt: skip

    # outside the period, or not audited
    story("new_year_eve", ny(12, 31, 12, year=2025)).read("4A", "rad-a", ny(12, 31, 23, 30, year=2025)) \
        .biopsy("rad-a", ny(1, 5)).pathology("malignant", "invasive_carcinoma", "rad-a", ny(1, 8))  # fmt: skip
    story("april", ny(3, 31, 12)).read("5", "rad-a", ny(4, 1, 0, 10))
    story("known_cancer", ny(2, 1), birads="6").read("5", "rad-a", ny(2, 1))
    story("incomplete", ny(2, 1)).read("0", "rad-a", ny(2, 1))
    return cases


# The figures worked out by hand (see the comments in build_known_outcomes).
EXPECTED_COUNTS = {
    "rad-a": {"recalls_worked_up": 7, "biopsies_recommended": 7, "biopsies_performed": 5, "cancers": 3, "dcis": 2,
              "invasive": 1, "high_risk": 0, "benign": 1, "biopsied_awaiting_result": 1, "awaiting_pathology": 3,
              "no_biopsy_planned": 0},
    "rad-b": {"recalls_worked_up": 6, "biopsies_recommended": 4, "biopsies_performed": 2, "cancers": 1, "dcis": 0,
              "invasive": 1, "high_risk": 1, "benign": 0, "biopsied_awaiting_result": 0, "awaiting_pathology": 1,
              "no_biopsy_planned": 1},
    None: {"recalls_worked_up": 1, "biopsies_recommended": 1, "biopsies_performed": 1, "cancers": 0, "dcis": 0,
           "invasive": 0, "high_risk": 0, "benign": 1, "biopsied_awaiting_result": 0, "awaiting_pathology": 0,
           "no_biopsy_planned": 0},
    "centre": {"recalls_worked_up": 14, "biopsies_recommended": 12, "biopsies_performed": 8, "cancers": 4, "dcis": 2,
               "invasive": 2, "high_risk": 1, "benign": 2, "biopsied_awaiting_result": 1, "awaiting_pathology": 4,
               "no_biopsy_planned": 1},
}  # fmt: skip
# (numerator, denominator, percent, verdict, awaiting in the denominator)
EXPECTED_PPV2 = {"rad-a": (3, 7, 42.9, "above range", 3), "rad-b": (1, 4, 25.0, "in range", 1),
                 None: (0, 1, 0.0, "below range", 0), "centre": (4, 12, 33.3, "in range", 4)}  # fmt: skip
EXPECTED_PPV3 = {"rad-a": (3, 5, 60.0, "above range", 1), "rad-b": (1, 2, 50.0, "above range", 0),
                 None: (0, 1, 0.0, "below range", 0), "centre": (4, 8, 50.0, "above range", 1)}  # fmt: skip
# days from the recommendation to diagnosis: (cases, median, 90th percentile by nearest rank)
# Ann: 10, 10, 4, 23; Ben: 9 (the mass), 5; navigator: 10.
EXPECTED_DAYS = {"rad-a": (4, 10.0, 23.0), "rad-b": (2, 7.0, 9.0), None: (1, 10.0, 10.0), "centre": (7, 10.0, 23.0)}
AWAITING = {"result_owed": "biopsied, result owed", "last_evening": "biopsy owed", "upgraded": "biopsy owed",
            "biopsy_owed": "biopsy owed"}  # fmt: skip
