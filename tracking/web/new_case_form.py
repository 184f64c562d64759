"""The recall form (GET /cases/new, POST /cases): what a navigator typed, read into a CaseOpening.

Every field is checked before anything is written, and each problem is named on the field it
belongs to (the ids below are the form's element ids). The database checks that need a session
(a known MRN with another name, a new facility already in the directory) are the route's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from tracking.cases.errors import InvalidInput
from tracking.cases.opening import CaseOpening, FacilityRef
from tracking.centre_time import shown_moment, typed_moment
from tracking.facilities.directory import FacilityEntry
from tracking.pathway.definition import all_pathways
from tracking.pathway.engine import CLOCK_SKEW
from tracking.pathway.vocabulary import BIRADS_WORDS, DENSITY_WORDS
from tracking.patients.contact_details import LANGUAGES, ContactDetails
from tracking.settings import get_settings
from tracking.web.form_problems import Loc, Problems, sentence, validation_problems

PHONE_ROWS = (1, 2)
NEW_FACILITY_ROWS = (1, 2)
MAX_FACILITIES = 20
PHONE_LABELS = [("mobile", "Mobile"), ("home", "Home"), ("work", "Work")]
LEAVE_MESSAGE = {"": None, "yes": True, "no": False}
SIDES = [("left", "Left"), ("right", "Right"), ("bilateral", "Both")]
DENSITIES = [(code, f"{code}: {meaning}") for code, meaning in DENSITY_WORDS.items()]
BIRADS = [(code, f"{code}: {meaning}") for code, meaning in BIRADS_WORDS.items()]
CHANNELS = [
    ("email", "Email"),
    ("fax", "Fax"),
    ("phone", "Phone call"),
    ("post", "Post"),
    ("webhook", "Electronic request (web link)"),
]
CHANNEL_WORDS = dict(CHANNELS)

CONTACT_IDS = ("address", "preferred_language", "interpreter_needed", "may_leave_message", "referring_provider",
               "primary_care_provider")  # fmt: skip
OPENING_IDS = ("mrn", "given_name", "family_name", "birth_date", "laterality", "finding_type", "palpable", "density",
               "birads", "occurred_at")  # fmt: skip
SELECTS = {"laterality", "finding_type", "density", "birads", "preferred_language", "may_leave_message"}
LABELS = {
    "mrn": "MRN",
    "given_name": "given name",
    "family_name": "family name",
    "birth_date": "date of birth",
    "address": "address",
    "preferred_language": "preferred language",
    "preferred_language_other": "language code",
    "interpreter_needed": "interpreter answer",
    "may_leave_message": "answer to may we leave a message",
    "referring_provider": "referring provider",
    "primary_care_provider": "primary care provider",
    "laterality": "side",
    "finding_type": "finding type",
    "palpable": "palpable answer",
    "density": "breast density",
    "birads": "BI-RADS category",
    "occurred_at": "exam date and time",
    "facilities": "facilities",
    "name": "facility name",
    "channel": "way requests are sent",
    "contact": "facility contact",
    "phone": "facility phone number",
    "number": "phone number",
    "label": "kind of phone",
}


def field_order() -> list[str]:
    """Every field id in the order the form shows them (the error summary follows it)."""
    phones = [f"phone{row}_{part}" for row in PHONE_ROWS for part in ("label", "number")]
    new = [f"new{row}_{part}" for row in NEW_FACILITY_ROWS for part in ("name", "channel", "contact", "phone")]
    return [*OPENING_IDS[:4], *phones, "address", "preferred_language", "preferred_language_other",
            *CONTACT_IDS[2:], *OPENING_IDS[4:], "facilities", *new]  # fmt: skip


def label(field_id: str) -> str:
    """A field's name in words: "new1_contact" → "facility contact"."""
    return LABELS.get(field_id) or LABELS.get(field_id.split("_", 1)[-1], field_id.replace("_", " "))


def choose(field_id: str) -> bool:
    return field_id in SELECTS or field_id.endswith(("_channel", "_label"))


def finding_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Finding types grouped under the title of the pathway that works them up (newest versions)."""
    newest: dict[str, Any] = {}
    for pathway in all_pathways():
        if pathway.name not in newest or pathway.version > newest[pathway.name].version:
            newest[pathway.name] = pathway
    return [(pathway.title, [(kind, kind.replace("_", " ").capitalize()) for kind in pathway.finding_types])
            for pathway in sorted(newest.values(), key=lambda pathway: pathway.title)]  # fmt: skip


def languages() -> list[tuple[str, str]]:
    return sorted(LANGUAGES.items(), key=lambda item: item[1])


def fresh_key() -> str:
    return str(uuid.uuid4())


@dataclass
class NewFacility:
    row: int
    entry: FacilityEntry


@dataclass
class RecallForm:
    """The form as typed: kept whole for a refused submit; `opening` only when every field is valid."""

    values: dict[str, str]
    ticked: list[str]
    key: str
    problems: Problems = field(default_factory=Problems)
    opening: CaseOpening | None = None
    new_facilities: list[NewFacility] = field(default_factory=list)

    def add_validation(self, error: ValidationError, field_for: Callable[[Loc], str]) -> None:
        validation_problems(self.problems, error, field_for, label, choose)


def read_recall_form(values: dict[str, str], ticked: list[str], now: datetime) -> RecallForm:
    key = values.get("key", "")
    try:
        key = str(uuid.UUID(key))
    except ValueError:
        key = fresh_key()
    form = RecallForm(values=values, ticked=list(dict.fromkeys(name for name in ticked if name.strip())), key=key)
    contact = _contact(form)
    exam = _exam(form, now)
    refs = _facilities(form)
    raw: dict[str, Any] = {
        name: values.get(name, "") for name in OPENING_IDS if name not in ("palpable", "occurred_at")
    }
    raw = {name: value for name, value in raw.items() if value.strip() or name not in ("birth_date", *SELECTS)}
    for name in ("finding_type", "birads"):  # CaseOpening has defaults for these; the form asks for them
        if not values.get(name, "").strip():
            form.problems.add(name, f"Choose the {label(name)}")
    raw |= {"palpable": bool(values.get("palpable")), "facilities": refs}
    if exam is not None:
        raw["occurred_at"] = exam
    if contact is not None:
        raw["contact"] = contact.model_dump()
    try:
        opening = CaseOpening.model_validate(raw)
    except ValidationError as error:
        form.add_validation(error, _opening_field)
        return form
    if not form.problems:
        form.opening = opening
    return form


def _opening_field(loc: Loc) -> str:
    first = str(loc[0]) if loc else ""
    if first in OPENING_IDS or first == "facilities":
        return first
    return "mrn"


def _contact(form: RecallForm) -> ContactDetails | None:
    """How to reach her, or None when the navigator left the whole section empty."""
    values = form.values
    rows = [row for row in PHONE_ROWS if values.get(f"phone{row}_number", "").strip()]
    raw: dict[str, Any] = {}
    if rows:
        raw["phones"] = [{"label": values.get(f"phone{row}_label") or "mobile", "number": values[f"phone{row}_number"]}
                         for row in rows]  # fmt: skip
    for name in ("address", "referring_provider", "primary_care_provider"):
        if values.get(name, "").strip():
            raw[name] = values[name]
    other = values.get("preferred_language") == "other"
    language = values.get("preferred_language_other" if other else "preferred_language", "").strip()
    if language:
        raw["preferred_language"] = language
    elif other:
        form.problems.add("preferred_language_other", "Enter the language code, for example pl for Polish")
    if values.get("interpreter_needed"):
        raw["interpreter_needed"] = True
    leave = values.get("may_leave_message", "")
    if leave not in LEAVE_MESSAGE:
        form.problems.add("may_leave_message", "Choose yes, no or not asked")
    elif LEAVE_MESSAGE[leave] is not None:
        raw["may_leave_message"] = LEAVE_MESSAGE[leave]
    if not raw:
        return None

    def field_for(loc: Loc) -> str:
        if loc[:1] == ("phones",) and len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(rows):
            return f"phone{rows[loc[1]]}_{'label' if loc[2:3] == ('label',) else 'number'}"
        if loc[:1] == ("preferred_language",) and other:
            return "preferred_language_other"
        return str(loc[0]) if loc and loc[0] in CONTACT_IDS else "phone1_number"

    try:
        return ContactDetails.model_validate(raw)
    except ValidationError as error:
        form.add_validation(error, field_for)
        return None


def _exam(form: RecallForm, now: datetime) -> datetime | None:
    """The exam moment typed on the centre's clock; blank is now. Not in the future, not too far back."""
    try:
        exam = typed_moment(form.values.get("occurred_at", ""), what="The exam date and time")
    except InvalidInput as error:
        form.problems.add("occurred_at", sentence(str(error)))
        return None
    except (OverflowError, ValueError):
        form.problems.add("occurred_at", "The exam date and time must be a real date and time, after 1900")
        return None
    if exam is None:
        return None
    limit = get_settings().opening_max_age_days
    if exam > now + CLOCK_SKEW:
        form.problems.add("occurred_at", f"The exam date and time ({shown_moment(exam)}) is in the future")
    elif exam < now - timedelta(days=limit):
        form.problems.add("occurred_at", f"The exam date and time ({shown_moment(exam)}) is more than {limit} days "
                                         "ago; a finding that old needs a new exam")  # fmt: skip
    return exam


def _facilities(form: RecallForm) -> list[dict[str, str]]:
    """The ticked directory facilities and the new ones typed, by name (the new ones join the directory)."""
    values, seen = form.values, {name.casefold() for name in form.ticked}
    for row in NEW_FACILITY_ROWS:
        typed = {part: values.get(f"new{row}_{part}", "").strip() for part in ("name", "channel", "contact", "phone")}
        if not (typed["name"] or typed["contact"] or typed["phone"]):
            continue
        prefix = f"new{row}_"

        def field_for(loc: Loc, prefix: str = prefix) -> str:
            return prefix + (str(loc[0]) if loc else "contact")

        try:
            entry = FacilityEntry.model_validate({part: value for part, value in typed.items() if value})
        except ValidationError as error:
            form.add_validation(error, field_for)
            continue
        if entry.name.casefold() in seen:
            form.problems.add(f"{prefix}name", f"{entry.name} is already chosen above; give each facility once")
            continue
        seen.add(entry.name.casefold())
        form.new_facilities.append(NewFacility(row, entry))
    names = form.ticked + [item.entry.name for item in form.new_facilities]
    if len(names) > MAX_FACILITIES:
        form.problems.add("facilities", f"Choose at most {MAX_FACILITIES} facilities")
    refs = []
    for name in names:
        try:
            refs.append(FacilityRef(name=name).model_dump(exclude_none=True))
        except ValidationError:
            form.problems.add("facilities", "Choose the facilities from the list")
    return refs
