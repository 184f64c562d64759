"""ADT^A08 / A31 (a patient's details changed) and ADT^A40 (two MRNs are one patient).

A known patient's phones (PID-13 home and mobile, PID-14 work), address (PID-11) and language
(PID-15) are applied through tracking/patients/contact_details.py, validated and audited by field
name; phones the message does not mention are kept. A different name or birth date, a phone that
does not validate, and every merge wait in the HL7 inbox: those are a person's decisions. An update
about a patient not followed here is ignored.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import hl7
from pydantic import ValidationError

from tracking.cases.models import Patient
from tracking.hl7.context import Context, Identified
from tracking.hl7.inbox import Proposal
from tracking.hl7.interpretation import Interpretation
from tracking.pathway.vocabulary import HL7InboxKind
from tracking.patients.contact_details import MAX_PHONES, ContactDetails, contact_details, update_contact_details

QUOTED = re.compile(r"'[^']*'")  # a validation message quotes the value: left out of reasons and logs
SKIPPED_USE = {"NET", "X.400"}  # e-mail and the like: not a phone
SKIPPED_EQUIPMENT = {"INTERNET", "X.400", "FX", "BP"}  # e-mail, fax, pager


def handle_demographics(context: Context) -> Interpretation:
    pid = context.reader.first("PID")
    found = context.identify()
    patient = found.patient
    if patient is None:
        return context.ignored(f"no patient followed here has this MRN ({found.problem or 'unknown MRN'})")
    cases = context.active_cases(patient)
    case_id = cases[0].id if len(cases) == 1 else None
    payload, problems = pid_contact(context, pid, contact_details(patient).model_dump(mode="json"))
    identity = pid_identity(context, pid)
    if identity is not None and _differs(patient, identity):
        return context.queue(
            Proposal(
                HL7InboxKind.update_demographics,
                "The RIS has another name or birth date for this MRN; check it is the same patient before "
                "changing her record." + (f" Also: {'; '.join(problems)}." if problems else ""),
                case_id=case_id,
                patient_id=patient.id,
                payload={**identity, "contact": payload},
                details=context.details(found, {"stored": _identity_of(patient)}),
            )
        )
    if problems:
        return context.queue(
            Proposal(
                HL7InboxKind.update_contact_details,
                f"The contact details do not all validate: {'; '.join(problems)}.",
                case_id=case_id,
                patient_id=patient.id,
                payload=payload,
                details=context.details(found),
            )
        )
    changed = update_contact_details(
        context.session,
        patient.id,
        ContactDetails.model_validate(payload),
        actor=context.actor,
        now=context.now,
        case_id=case_id,
    )
    what = ", ".join(name.replace("_", " ") for name in changed) if changed else "nothing changed"
    return context.applied(f"contact details of patient {patient.id}: {what}", case_id=case_id)


def handle_merge(context: Context) -> Interpretation:
    survivor = context.identify()
    prior = context.identify_in(context.reader.first("MRG"), 1)
    if survivor.patient is None and prior.patient is None:
        return context.ignored("a merge of two MRNs, neither of which belongs to a patient followed here")
    details = context.details(survivor, {"prior_mrn": prior.mrn, "prior_patient_id": _id(prior)})
    if survivor.mrn is None or prior.mrn is None:
        return context.review(
            "A merge of patient identifiers (ADT^A40) that does not name both MRNs "
            f"({survivor.problem or prior.problem}); check it with the RIS.",
            patient=survivor if survivor.patient else prior,
            details=details,
        )
    return context.queue(
        Proposal(
            HL7InboxKind.merge_patients,
            "The RIS merged two MRNs into one patient (ADT^A40). A merge is a person's decision: check both "
            "records are the same patient, then confirm.",
            patient_id=_id(prior) or _id(survivor),
            payload={"mrn": survivor.mrn, "prior_mrn": prior.mrn},
            details=details | {"surviving_patient_id": _id(survivor)},
        )
    )


# --- reading PID ----------------------------------------------------------------------------------


def pid_identity(context: Context, pid: hl7.Segment | None) -> dict[str, Any] | None:
    """Name (PID-5) and birth date (PID-7) as the message gives them; None when either is missing."""
    reader = context.reader
    family, given = reader.value(pid, 5, 1)[:200], reader.value(pid, 5, 2)[:200]
    born = reader.value(pid, 7, 1)[:8]
    try:
        birth_date = date(int(born[:4]), int(born[4:6]), int(born[6:8])) if len(born) == 8 and born.isdigit() else None
    except ValueError:
        birth_date = None
    if not family or not given or birth_date is None:
        return None
    return {"given_name": given, "family_name": family, "birth_date": birth_date.isoformat()}


def pid_contact(context: Context, pid: hl7.Segment | None, stored: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The stored contact details with what PID-11, -13, -14 and -15 give laid over them, and what does not
    validate. Phones replace stored phones of the same label; the others are kept."""
    reader = context.reader
    payload = dict(stored)
    phones = _phones(context, pid)
    if phones:
        labels = {phone["label"] for phone in phones}
        kept = [phone for phone in stored.get("phones", []) if phone.get("label") not in labels]
        numbers: list[dict[str, str]] = []
        for phone in [*phones, *kept]:
            if phone["number"] not in {existing["number"] for existing in numbers}:
                numbers.append(phone)
        payload["phones"] = numbers[:MAX_PHONES]
    address = _address(context, pid)
    if address:
        payload["address"] = address
    language = reader.value(pid, 15, 1)
    if language:
        payload["preferred_language"] = context.mapping.language(language)[:20]
    try:
        clean = ContactDetails.model_validate(payload)
    except ValidationError as invalid:
        problems = []
        for error in invalid.errors(include_url=False, include_input=False):
            place = ".".join(str(part) for part in error["loc"]) or "contact"
            message = QUOTED.sub("", str(error["msg"]).removeprefix("Value error, "))  # never the value itself
            problems.append(f"{place.replace('_', ' ')}: {' '.join(message.split())}")
        return payload, problems
    return clean.model_dump(mode="json"), []


def _phones(context: Context, pid: hl7.Segment | None) -> list[dict[str, str]]:
    found = []
    for number_field, default in ((13, "home"), (14, "work")):
        for parts in context.reader.repetitions(pid, number_field):
            part = (parts + [""] * 12)[:12]
            use, equipment = part[1].strip().upper(), part[2].strip().upper()
            if use in SKIPPED_USE or equipment in SKIPPED_EQUIPMENT:
                continue
            if part[6].strip():
                number = (f"+{part[4].strip()}" if part[4].strip() else "") + part[5].strip() + part[6].strip()
            else:
                number = part[11].strip() or part[0].strip()
            if not number:
                continue
            label = "mobile" if equipment == "CP" else "work" if use == "WPN" else default
            found.append({"label": label, "number": number[:40]})
    return found


def _address(context: Context, pid: hl7.Segment | None) -> str | None:
    found = context.reader.repetitions(pid, 11)
    if not found:
        return None
    part = (found[0] + [""] * 6)[:6]
    street, other, city, state, postcode, country = (value.strip() for value in part)
    place = " ".join(
        value for value in (f"{city}," if city and (state or postcode) else city, state, postcode) if value
    )
    lines = [street, other, place, "" if country.upper() in ("", "US", "USA") else country]
    text = "\n".join(line for line in lines if line)
    return text[:500] or None


def _differs(patient: Patient, identity: dict[str, Any]) -> bool:
    return (
        patient.given_name.casefold() != identity["given_name"].casefold()
        or patient.family_name.casefold() != identity["family_name"].casefold()
        or patient.birth_date.isoformat() != identity["birth_date"]
    )


def _identity_of(patient: Patient) -> dict[str, Any]:
    return {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "birth_date": patient.birth_date.isoformat(),
    }


def _id(found: Identified) -> int | None:
    return found.patient.id if found.patient else None
