"""A realistic synthetic data set: the seed's patient plus a case in every branch, at several ages.

Every name is invented. Each case is played through the real services at the moments its events
happened, so due times, overdue steps and history are what the pathway would have produced.
Idempotency keys make loading twice a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from tracking.cases.opening import CaseOpening, FacilityRef, open_case
from tracking.cases.recording import record_event
from tracking.pathway.vocabulary import CaseRunStatus
from tracking.runs.models import CaseRun

DEMO_ACTOR = "demo-loader"

# Demo sign-ins, printed by `workup demo`. For trying the dashboard only: never in production.
DEMO_USERS = [
    ("nav", "Nadia Navigator", "navigator", "navigator-demo"),
    ("nav2", "Noor Navigator", "navigator", "navigator-demo-2"),
    ("rad", "Rafael Radiologist", "radiologist", "radiologist-demo"),
    ("ops", "Olga Operations", "ops", "operations-demo"),
    ("viewer", "Vic Viewer", "read_only", "read-only-demo"),
    ("admin", "Ada Admin", "admin", "administrator-demo"),
]

FACILITIES = [
    FacilityRef(name="Northside Imaging Center", channel="email", contact="films@northside.example"),
    FacilityRef(name="Lakeview Women's Health", channel="webhook", contact="https://lakeview.example/priors"),
    FacilityRef(name="Harbor Regional Radiology", channel="fax", contact="+1-555-0100"),
]

# A phone for each directory facility (a navigator calls them about missing films).
FACILITY_PHONES = ["+1 202 555 0180", "+1 202 555 0181", "+1 202 555 0182"]

# How to reach each demo patient (invented numbers in the 555-01xx range reserved for fiction).
DEMO_CONTACTS: dict[str, dict[str, Any]] = {
    "seed": {
        "phones": [{"label": "mobile", "number": "+1 202 555 0143"}, {"label": "home", "number": "202 555 0144"}],
        "address": "12 Elm Street\nSpringfield, IL 62701",
        "may_leave_message": True,
        "referring_provider": "Dr. Ana Ruiz",
        "primary_care_provider": "Dr. Sam Patel",
    },
    "suspicious": {
        "phones": [{"label": "mobile", "number": "+1 202 555 0150"}],
        "address": "48 Calle Sol, Apt 2\nSpringfield, IL 62702",
        "preferred_language": "es",
        "interpreter_needed": True,
        "may_leave_message": False,
        "referring_provider": "Dr. Ana Ruiz",
    },
    "priors": {
        "phones": [{"label": "work", "number": "+1 202 555 0160"}],
        "address": "7 Harbor Road\nSpringfield, IL 62704",
        "may_leave_message": True,
    },
    "new": {
        "phones": [{"label": "mobile", "number": "+1 202 555 0170"}],
        "address": "301 Lake Avenue\nSpringfield, IL 62703",
        "referring_provider": "Dr. Lee Okoro",
    },
}
# The seed case's notes and tasks: (days after opening, note) and (title, days after the load).
DEMO_NOTES = {"seed": [(1, "Left voicemail about the magnification views; she prefers calls after 5 pm.")]}
DEMO_TASKS = {"seed": [("Call back about the magnification appointment", 2)]}

MAG_SUSPICIOUS = {
    "birads": "4B",
    "morphology": "fine_pleomorphic",
    "distribution": "grouped",
    "extent_mm": 12,
}
MAG_PROBABLY_BENIGN = {"birads": "3", "morphology": "round", "distribution": "grouped"}
MAG_BENIGN = {"birads": "2", "morphology": "coarse_popcorn", "distribution": "diffuse"}
STEREO_DONE = {
    "procedure": "stereotactic",
    "guidance": "stereotactic",
    "cores": 9,
    "specimen_radiograph": "calcifications_confirmed",
    "site_marker": "clip_placed",
}


@dataclass
class DemoCase:
    key: str
    given_name: str
    family_name: str
    birth_date: date
    laterality: str
    density: str
    opened_days_ago: int
    facilities: list[int] = field(default_factory=list)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (days after opening, kind, data)


def _facility_id(session: Session, index: int) -> int:
    from tracking.cases.models import OutsideFacility

    return session.exec(select(OutsideFacility.id).where(OutsideFacility.name == FACILITIES[index].name)).one()


DEMO_CASES = [
    # The seed: left calcifications, dense tissue, priors at two outside facilities, nothing done yet.
    DemoCase("seed", "Maren", "Okafor-Lind", date(1968, 4, 12), "left", "c", 30, facilities=[0, 1]),
    # Suspicious on magnification: stereotactic biopsy now overdue.
    DemoCase(
        "suspicious",
        "Delia",
        "Whitcombe",
        date(1959, 9, 3),
        "left",
        "d",
        18,
        events=[
            (5, "magnification_result", MAG_SUSPICIOUS),
            (6, "ultrasound_result", {"findings": "No mass."}),
        ],
    ),
    # Stereotactic not feasible (breast too thin): open surgical biopsy scheduled.
    DemoCase(
        "infeasible",
        "Ines",
        "Marlowe-Tate",
        date(1975, 1, 22),
        "right",
        "b",
        30,
        events=[
            (4, "magnification_result", {**MAG_SUSPICIOUS, "birads": "4A"}),
            (9, "stereotactic_infeasible", {"reason": "breast_too_thin"}),
            (
                12,
                "biopsy_scheduled",
                {"procedure": "open_surgical", "guidance": "wire_localisation", "scheduled_for": "+25d"},
            ),
        ],
    ),
    # Biopsy done: radiology-pathology concordance review due.
    DemoCase(
        "biopsied",
        "Rosa",
        "Kettering",
        date(1962, 6, 30),
        "left",
        "c",
        16,
        events=[
            (2, "magnification_result", {**MAG_SUSPICIOUS, "birads": "4C"}),
            (3, "ultrasound_result", {"findings": "Dense tissue, no mass."}),
            (8, "biopsy_performed", STEREO_DONE),
            (9, "result_letter_sent", {"density_sentence_included": True}),
        ],
    ),
    # Malignant (DCIS): surgical consultation.
    DemoCase(
        "malignant",
        "Tamsin",
        "Oduya",
        date(1955, 11, 8),
        "left",
        "b",
        35,
        events=[
            (
                3,
                "magnification_result",
                {
                    **MAG_SUSPICIOUS,
                    "birads": "5",
                    "morphology": "fine_linear_branching",
                    "distribution": "segmental",
                },
            ),
            (5, "result_letter_sent", {"density_sentence_included": True}),
            (9, "biopsy_performed", STEREO_DONE),
            (13, "pathology_result", {"category": "malignant", "diagnosis": "dcis", "concordant": True}),
        ],
    ),
    # High-risk (ADH): surgical excision consultation.
    DemoCase(
        "high_risk",
        "Nadia",
        "Brennock",
        date(1971, 2, 14),
        "right",
        "b",
        28,
        events=[
            (3, "magnification_result", MAG_SUSPICIOUS),
            (4, "result_letter_sent", {"density_sentence_included": True}),
            (10, "biopsy_performed", STEREO_DONE),
            (15, "pathology_result", {"category": "high_risk", "diagnosis": "adh", "concordant": True}),
        ],
    ),
    # Benign and concordant: 6-month follow-up imaging.
    DemoCase(
        "benign_biopsy",
        "Greta",
        "Solvang",
        date(1980, 7, 19),
        "left",
        "a",
        60,
        events=[
            (4, "magnification_result", {**MAG_SUSPICIOUS, "birads": "4A", "morphology": "amorphous"}),
            (6, "result_letter_sent", {"density_sentence_included": True}),
            (12, "biopsy_performed", STEREO_DONE),
            (
                16,
                "pathology_result",
                {"category": "benign", "diagnosis": "fibrocystic_change", "concordant": True},
            ),
        ],
    ),
    # BI-RADS 3, 7 months on: the 6-month follow-up was missed and is now overdue.
    DemoCase(
        "birads3_missed",
        "Lucia",
        "Fenwright",
        date(1966, 3, 5),
        "right",
        "b",
        218,
        events=[
            (3, "magnification_result", MAG_PROBABLY_BENIGN),
            (10, "result_letter_sent", {"density_sentence_included": True}),
        ],
    ),
    # BI-RADS 3, stable at 6 months: 12-month exam ahead.
    DemoCase(
        "birads3_stable",
        "Harriet",
        "Quill",
        date(1958, 12, 1),
        "left",
        "c",
        200,
        events=[
            (2, "magnification_result", MAG_PROBABLY_BENIGN),
            (3, "ultrasound_result", {"findings": "Benign-appearing cysts."}),
            (9, "result_letter_sent", {"density_sentence_included": True}),
            (185, "followup_imaging_result", {"birads": "3", "change": "stable", "morphology": "round"}),
            (190, "result_letter_sent", {"density_sentence_included": True}),
        ],
    ),
    # Benign on magnification and letter sent: back to annual screening, case closed.
    DemoCase(
        "benign_closed",
        "Oona",
        "Abernethy",
        date(1977, 8, 27),
        "left",
        "b",
        45,
        events=[
            (3, "magnification_result", MAG_BENIGN),
            (8, "result_letter_sent", {"density_sentence_included": True}),
        ],
    ),
    # Priors: one facility sent films, one cannot; final assessment still owed.
    DemoCase(
        "priors",
        "Wren",
        "Castellano",
        date(1969, 10, 10),
        "right",
        "c",
        24,
        facilities=[1, 2],
        events=[
            (6, "prior_films_received", {"facility": 1, "comparison": "stable"}),
            (
                11,
                "prior_films_unobtainable",
                {"facility": 2, "reason": "Facility closed in 2019; archive lost"},
            ),
        ],
    ),
    # Just opened this week, non-dense: magnification and priors ahead, nothing overdue yet.
    DemoCase("new", "Sunniva", "Pell", date(1984, 5, 2), "left", "b", 2, facilities=[2]),
]


def load_demo_users(session: Session, now: datetime) -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet; returns (username, role, password) for all of them."""
    from tracking.users.models import User
    from tracking.users.service import create_user

    for username, name, role, password in DEMO_USERS:
        if session.exec(select(User).where(User.username == username)).first() is None:
            create_user(session, username=username, display_name=name, role=role, password=password,
                        actor=DEMO_ACTOR, now=now)  # fmt: skip
    return [(username, role, password) for username, _, role, password in DEMO_USERS]


def load_demo(session: Session, now: datetime) -> list[int]:
    """Load every demo case (a no-op for cases already loaded); return their case ids."""
    case_ids = []
    for demo in DEMO_CASES:
        opened_at = now - timedelta(days=demo.opened_days_ago)
        opened = open_case(
            session,
            CaseOpening(
                mrn=f"DEMO-{demo.key.upper()}",
                given_name=demo.given_name,
                family_name=demo.family_name,
                birth_date=demo.birth_date,
                laterality=demo.laterality,
                density=demo.density,
                facilities=[FACILITIES[index] for index in demo.facilities],
            ),
            actor=DEMO_ACTOR,
            now=opened_at,
            idempotency_key=f"demo:{demo.key}:open",
        )
        case_ids.append(opened.case_id)
        if opened.replayed:
            continue  # loaded before: its events carry dates relative to that load, so they are not sent again
        for number, (day, kind, data) in enumerate(demo.events):
            at = opened_at + timedelta(days=day, hours=10)
            record_event(
                session,
                opened.case_id,
                kind,
                _resolve(session, data, at),
                actor=DEMO_ACTOR,
                now=at,
                idempotency_key=f"demo:{demo.key}:{number}:{kind}",
            )
        _navigation(session, demo, opened.case_id, opened_at, now)
    _facility_phones(session, now)
    _requested_now(session, case_ids, now)
    _assign(session, case_ids)
    return case_ids


def _navigation(session: Session, demo: DemoCase, case_id: int, opened_at: datetime, now: datetime) -> None:
    """The demo patient's contact details, notes and tasks, as a navigator would have entered them."""
    from tracking.cases.models import Case
    from tracking.navigation.notes import add_note
    from tracking.navigation.tasks import add_task
    from tracking.patients.contact_details import ContactDetails, update_contact_details

    # Every demo patient has a postal address, so each letter the demo owes can be printed.
    contact = DEMO_CONTACTS.get(demo.key) or {"address": f"{case_id} Main Street\nSpringfield, IL 62701"}
    patient_id = session.get(Case, case_id).patient_id
    update_contact_details(session, patient_id, ContactDetails(**contact), actor=DEMO_ACTOR, now=opened_at,
                           case_id=case_id)  # fmt: skip
    for day, body in DEMO_NOTES.get(demo.key, []):
        add_note(session, case_id, body, actor=DEMO_ACTOR, now=opened_at + timedelta(days=day, hours=9))
    for title, days_ahead in DEMO_TASKS.get(demo.key, []):
        add_task(session, case_id, title, now + timedelta(days=days_ahead), actor=DEMO_ACTOR, now=now)


def _facility_phones(session: Session, now: datetime) -> None:
    from tracking.facilities.directory import FacilityEntry, facility_named, update_facility

    for ref, phone in zip(FACILITIES, FACILITY_PHONES, strict=True):
        facility = facility_named(session, ref.name)
        if facility is not None and facility.phone is None:
            entry = FacilityEntry(name=facility.name, channel=facility.channel, contact=facility.contact, phone=phone)
            update_facility(session, facility.id, entry, actor=DEMO_ACTOR, now=now)


def _requested_now(session: Session, case_ids: list[int], now: datetime) -> None:
    """The demo's clinical dates are in the past, but its run requests and queued messages are made
    by this load, now.

    Otherwise every demo case would show a stalled run request, and every film request a message
    "still waiting to be sent", until the runner's and the outbox's first pass.
    """
    from tracking.notify.models import Notification

    session.execute(
        update(CaseRun)
        .where(col(CaseRun.case_id).in_(case_ids), CaseRun.status == CaseRunStatus.pending, CaseRun.requested_at < now)
        .values(requested_at=now, next_attempt_at=now)
    )
    session.execute(
        update(Notification)
        .where(col(Notification.case_id).in_(case_ids), Notification.status == "pending", Notification.created_at < now)
        .values(created_at=now, next_attempt_at=now)
    )


def _assign(session: Session, case_ids: list[int]) -> None:
    """Share the demo cases between the two demo navigators (the seed case goes to `nav`)."""
    from tracking.cases.models import Case
    from tracking.users.models import User

    navigators = {user.username: user.id for user in session.exec(select(User).where(User.role == "navigator"))}
    if not {"nav", "nav2"} <= set(navigators):
        return
    for index, case_id in enumerate(case_ids):
        case = session.get(Case, case_id)
        if case.navigator_id is None:
            case.navigator_id = navigators["nav" if index % 2 == 0 else "nav2"]
            session.add(case)
    session.flush()


def _resolve(session: Session, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Turn the demo's shorthand (facility index, '+Nd' dates) into real field values."""
    resolved = dict(data)
    if "facility" in resolved:
        resolved["facility_id"] = _facility_id(session, resolved.pop("facility"))
    for key, value in data.items():
        if isinstance(value, str) and value.startswith("+") and value.endswith("d"):
            resolved[key] = (at + timedelta(days=int(value[1:-1]))).isoformat()
    return resolved
