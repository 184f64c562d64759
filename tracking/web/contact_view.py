"""How to reach her, on the case page: phones people can tap, her language, and the edit form.

Stored numbers are E.164 (tracking/patients/contact_details.py); a number in the centre's own
region reads as it is dialled there ("(202) 555-0143"), any other in international form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers
from pydantic import ValidationError

from tracking.cases.models import Patient
from tracking.patients.contact_details import LANGUAGES, MAX_PHONES, PHONE_LABELS, ContactDetails, language_name
from tracking.settings import get_settings

MESSAGE_WORDS = {True: "yes", False: "no", None: "not asked"}
FORM_FIELDS = ("address", "preferred_language", "other_language", "may_leave_message", "referring_provider",
               "primary_care_provider")  # fmt: skip


@dataclass(frozen=True)
class PhoneLink:
    label: str
    href: str  # tel:+12025550143
    text: str  # (202) 555-0143


def phone_text(e164: str) -> str:
    """A stored number as people read it: national form in the centre's region, else international."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    own = phonenumbers.region_code_for_number(number) == get_settings().default_phone_region
    style = phonenumbers.PhoneNumberFormat.NATIONAL if own else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def how_to_reach(patient: Patient) -> dict[str, Any]:
    """The case header's "How to reach her" block."""
    return {
        "phones": [
            PhoneLink(phone.get("label", "phone"), f"tel:{phone['number']}", phone_text(phone["number"]))
            for phone in patient.phones or []
        ],  # fmt: skip
        "language": language_name(patient.preferred_language),
        "interpreter": patient.interpreter_needed,
        "message": MESSAGE_WORDS[patient.may_leave_message],
        "address": patient.address,
        "referring_provider": patient.referring_provider,
        "primary_care_provider": patient.primary_care_provider,
        "updated_at": patient.contact_updated_at,
    }


def stored_values(patient: Patient) -> dict[str, Any]:
    """The edit form filled in with what is stored."""
    known = patient.preferred_language in LANGUAGES
    values: dict[str, Any] = {
        "address": patient.address or "",
        "preferred_language": patient.preferred_language if known else "",
        "other_language": "" if known else patient.preferred_language,
        "interpreter_needed": patient.interpreter_needed,
        "may_leave_message": {True: "yes", False: "no", None: ""}[patient.may_leave_message],
        "referring_provider": patient.referring_provider or "",
        "primary_care_provider": patient.primary_care_provider or "",
    }
    return values | {"phones": [dict(phone) for phone in patient.phones or []]}


def form_values(form: dict[str, str]) -> dict[str, Any]:
    """What was typed, to show again after a refusal."""
    values: dict[str, Any] = {name: form.get(name, "") for name in FORM_FIELDS}
    values["interpreter_needed"] = form.get("interpreter_needed") == "yes"
    values["phones"] = [{"label": form.get(f"phone_label_{index}", "mobile"), "number": form.get(f"phone_{index}", "")}
                        for index in range(MAX_PHONES)]  # fmt: skip
    return values


def phone_rows(values: dict[str, Any]) -> list[dict[str, str]]:
    """The phone rows of the form: what is stored or typed, then one empty row, at most MAX_PHONES."""
    phones = list(values["phones"])[:MAX_PHONES]
    filled = [index for index, phone in enumerate(phones) if phone.get("number")]
    rows = phones[: filled[-1] + 1] if filled else []  # rows keep their places: a problem names its row
    if len(rows) < MAX_PHONES:
        rows.append({"label": "mobile" if not rows else "home", "number": ""})
    return rows


def read_contact_form(form: dict[str, str]) -> tuple[ContactDetails | None, list[tuple[str, str]]]:
    """The edit form as ContactDetails, or the problems as (field id, message) in the form's order."""
    phones = []
    for index in range(MAX_PHONES):
        number = (form.get(f"phone_{index}") or "").strip()
        if number:
            phones.append({"label": form.get(f"phone_label_{index}") or "mobile", "number": number,
                           "_index": index})  # fmt: skip
    message = (form.get("may_leave_message") or "").strip()
    language = (form.get("other_language") or "").strip() or (form.get("preferred_language") or "").strip() or "en"
    data: dict[str, Any] = {
        "phones": [{"label": phone["label"], "number": phone["number"]} for phone in phones],
        "address": form.get("address") or None,
        "preferred_language": language,
        "interpreter_needed": form.get("interpreter_needed") == "yes",
        "may_leave_message": {"yes": True, "no": False}.get(message),
        "referring_provider": form.get("referring_provider") or None,
        "primary_care_provider": form.get("primary_care_provider") or None,
    }
    problems: list[tuple[str, str]] = []
    if message not in ("", "yes", "no"):
        problems.append(("contact-message-yes", "Choose yes, no or not asked for leaving a message"))
    try:
        details = ContactDetails.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            problems.append(_problem(item, phones, form))
        return None, problems
    return (None, problems) if problems else (details, [])


def _problem(item: Any, phones: list[dict[str, Any]], form: dict[str, str]) -> tuple[str, str]:
    location = tuple(item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    if location[:1] == ("phones",) and len(location) >= 2 and isinstance(location[1], int):
        index = phones[location[1]]["_index"] if location[1] < len(phones) else 0
        if len(location) >= 3 and location[2] == "label":
            return f"contact-phone-label-{index}", f"Phone {index + 1}: choose mobile, home, work or other"
        return f"contact-phone-{index}", f"Phone {index + 1}: {message}"
    name = str(location[0]) if location else "address"
    if name == "preferred_language":
        field = "contact-other-language" if (form.get("other_language") or "").strip() else "contact-language"
        return field, "The language must be a language code such as 'so' (Somali) or 'pt-BR'"
    labels = {"address": "Address", "referring_provider": "Referring provider",
              "primary_care_provider": "Primary care provider", "phones": "Phones"}  # fmt: skip
    return f"contact-{name.replace('_', '-')}", f"{labels.get(name, name)}: {message}"


def language_options() -> list[tuple[str, str]]:
    return list(LANGUAGES.items())


PHONE_LABEL_CHOICES = PHONE_LABELS
