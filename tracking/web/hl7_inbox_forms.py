"""The HL7 inbox page's forms: each item's proposal as fields, prefilled from the message and
editable, and what was typed read back into the proposal's payload.

Every field's id (and name) is `i<item>-<field>`, so one page holds many items' forms. Dates and
times are shown and typed on the centre's clock (tracking/centre_time.py); the services validate
every value and name what is wrong.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from tracking.cases.errors import InvalidInput
from tracking.cases.models import Case
from tracking.centre_time import input_value, typed_moment, zone_label
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.pathway.definition import EventRule, find_pathway
from tracking.pathway.fields import FieldRefused, parse_moment
from tracking.pathway.vocabulary import HL7InboxKind
from tracking.patients.contact_details import MAX_PHONES, PHONE_LABELS
from tracking.web.event_forms import field_widgets, form_to_data
from tracking.web.new_case_form import BIRADS, DENSITIES, SIDES, finding_groups

CONFIRM_WORDS = {
    HL7InboxKind.record_event: "Confirm and record",
    HL7InboxKind.open_case: "Open the case",
    HL7InboxKind.link_accession: "Link the accession number",
    HL7InboxKind.update_contact_details: "Save the contact details",
    HL7InboxKind.update_demographics: "Change her name and birth date",
    HL7InboxKind.merge_patients: "Merge the two records",
    HL7InboxKind.review: "Mark as seen",
}
EVENT_LABELS = {"birads": "BI-RADS assessment", "extent_mm": "extent (mm)"}


@dataclass
class ProposalForm:
    """One item's fields: widgets for the template, the values to show, and how to read them back."""

    item: HL7InboxItem
    widgets: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    rule: EventRule | None = None

    @property
    def prefix(self) -> str:
        return f"i{self.item.id}"

    @property
    def confirm_id(self) -> str:
        return f"{self.prefix}-confirm"

    @property
    def confirm_words(self) -> str:
        return CONFIRM_WORDS[HL7InboxKind(self.item.kind)]

    def ids(self) -> list[str]:
        return [widget["id"] for widget in self.widgets]

    def field_id(self, name: str | None) -> str:
        """The id of the field called `name`, else the form's first field (else its button)."""
        wanted = f"{self.prefix}-{name}"
        if name and wanted in self.ids():
            return wanted
        return self.ids()[0] if self.widgets else self.confirm_id


def proposal_form(session: Session, item: HL7InboxItem, typed: dict[str, str] | None = None) -> ProposalForm:
    """The item's form: the prefilled proposal, or what was typed (after a refusal)."""
    form = ProposalForm(item)
    kind = HL7InboxKind(item.kind)
    if kind == HL7InboxKind.record_event:
        _event_widgets(session, form)
    elif kind == HL7InboxKind.open_case:
        _opening_widgets(form)
    elif kind == HL7InboxKind.link_accession:
        _link_widgets(form)
    elif kind == HL7InboxKind.update_contact_details:
        _contact_widgets(form, item.payload)
    elif kind == HL7InboxKind.update_demographics:
        _identity_widgets(form)
    if typed is not None:
        form.values = {key: value for key, value in typed.items() if key.startswith(f"{form.prefix}-")}
    return form


def _widget(form: ProposalForm, name: str, label: str, kind: str = "text", **extra: Any) -> dict[str, Any]:
    widget = {"id": f"{form.prefix}-{name}", "name": name, "label": label, "input": kind, **extra}
    form.widgets.append(widget)
    return widget


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _event_widgets(session: Session, form: ProposalForm) -> None:
    item = form.item
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is None:
        _widget(form, "case_id", "Case number", "number", required=True,
                hint="No case matched by itself: the case to record this on")  # fmt: skip
        pathway = find_pathway(_default_pathway())
    else:
        pathway = find_pathway(case.pathway_name, case.pathway_version)
    rule = pathway.events.get(str(item.event_kind))
    form.rule = rule
    if rule is None:
        return
    for widget in field_widgets(pathway, rule, prefix=form.prefix):
        kind = widget["input"]
        widget["label"] = EVENT_LABELS.get(widget["name"], widget["label"])
        extra = {key: widget[key] for key in ("options", "step", "min", "max", "maxlength") if widget.get(key)}
        form.widgets.append({**widget, "input": kind, **extra})
        value = item.payload.get(widget["name"])
        if kind == "datetime-local" and value:
            with suppress(FieldRefused):  # else shown as sent; the engine names what is wrong when confirmed
                value = input_value(parse_moment(value, widget["name"]))
        form.values[widget["id"]] = _shown(value)
    _widget(form, "occurred_at", f"When it happened ({zone_label()}; blank means now)", "datetime-local")
    form.values[f"{form.prefix}-occurred_at"] = input_value(item.occurred_at) if item.occurred_at else ""


def _default_pathway() -> str:
    from tracking.settings import get_settings

    return get_settings().default_pathway


def _opening_widgets(form: ProposalForm) -> None:
    payload = form.item.payload
    _widget(form, "mrn", "MRN", maxlength=64, required=True)
    _widget(form, "given_name", "Given name", maxlength=200, required=True)
    _widget(form, "family_name", "Family name", maxlength=200, required=True)
    _widget(form, "birth_date", "Date of birth", "date", required=True)
    _widget(form, "laterality", "Side", "select", options=SIDES, required=True)
    findings = [option for _, options in finding_groups() for option in options]
    _widget(form, "finding_type", "Finding type", "select", options=findings, required=True,
            hint="The finding picks the workup pathway it follows")  # fmt: skip
    _widget(form, "density", "Breast density", "select", options=DENSITIES, required=True)
    _widget(form, "birads", "BI-RADS category", "select", options=BIRADS, required=True)
    _widget(form, "occurred_at", f"Exam date and time ({zone_label()}; blank means now)", "datetime-local")
    for widget in form.widgets:
        value = payload.get(widget["name"])
        if widget["name"] == "birads":
            value = value or "0"
        if widget["name"] == "occurred_at" and value:
            value = input_value(datetime.fromisoformat(str(value)))
        form.values[widget["id"]] = _shown(value)


def _link_widgets(form: ProposalForm) -> None:
    candidates = form.item.details.get("candidates") or []
    options = [(str(found["step_id"]), f"Case {found['case_id']}: {str(found['step']).replace('_', ' ')} "
                f"({found['status']})") for found in candidates]  # fmt: skip
    _widget(form, "step_id", "The step this order is for", "select", options=options, required=True)
    chosen = form.item.payload.get("step_id")
    form.values[f"{form.prefix}-step_id"] = _shown(chosen)


def _contact_widgets(form: ProposalForm, payload: dict[str, Any]) -> None:
    phones = list(payload.get("phones") or [])[:MAX_PHONES]
    for index in range(MAX_PHONES):
        phone = phones[index] if index < len(phones) else {}
        _widget(form, f"phone{index}_label", f"Phone {index + 1} is", "select",
                options=[(label, label.capitalize()) for label in PHONE_LABELS])  # fmt: skip
        _widget(form, f"phone{index}_number", f"Phone {index + 1} number", "tel", maxlength=40)
        form.values[f"{form.prefix}-phone{index}_label"] = str(phone.get("label") or "mobile")
        form.values[f"{form.prefix}-phone{index}_number"] = str(phone.get("number") or "")
    _widget(form, "address", "Address", "textarea", maxlength=500)
    _widget(form, "preferred_language", "Preferred language (code)", maxlength=20,
            hint="A language code such as en, es or pt-BR")  # fmt: skip
    form.values[f"{form.prefix}-address"] = str(payload.get("address") or "")
    form.values[f"{form.prefix}-preferred_language"] = str(payload.get("preferred_language") or "")


def _identity_widgets(form: ProposalForm) -> None:
    payload = form.item.payload
    _widget(form, "given_name", "Given name", maxlength=200, required=True)
    _widget(form, "family_name", "Family name", maxlength=200, required=True)
    _widget(form, "birth_date", "Date of birth", "date", required=True)
    for name in ("given_name", "family_name", "birth_date"):
        form.values[f"{form.prefix}-{name}"] = _shown(payload.get(name))


# --- reading what was typed -----------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    payload: dict[str, Any] | None  # None: confirm as prefilled
    case_id: int | None = None
    occurred_at: datetime | None = None


def read_proposal(form: ProposalForm, posted: dict[str, str]) -> Typed:
    """The proposal as typed: InvalidInput (naming the field, `field` set) for what cannot be read."""
    item, prefix = form.item, form.prefix
    raw = {
        key.removeprefix(f"{prefix}-"): value.strip() for key, value in posted.items() if key.startswith(f"{prefix}-")
    }
    kind = HL7InboxKind(item.kind)
    if kind == HL7InboxKind.record_event and form.rule is not None:
        occurred = _typed_moment(raw.get("occurred_at", ""), "occurred_at", "when it happened")
        case_id = _case_number(raw.get("case_id", "")) if "case_id" in raw else None
        return Typed(form_to_data(form.rule, raw), case_id, occurred)
    if kind == HL7InboxKind.open_case:
        payload = {name: value for name, value in raw.items() if name != "occurred_at"}
        merged = {key: value for key, value in {**item.payload, **payload}.items() if value not in ("", None)}
        occurred = _typed_moment(raw.get("occurred_at", ""), "occurred_at", "the exam date and time")
        merged.pop("occurred_at", None)
        if occurred is not None:
            merged["occurred_at"] = occurred.isoformat()
        return Typed(merged)
    if kind == HL7InboxKind.link_accession:
        return Typed({"step_id": raw.get("step_id") or None})
    if kind == HL7InboxKind.update_contact_details:
        phones = [{"label": raw.get(f"phone{index}_label") or "mobile", "number": raw[f"phone{index}_number"]}
                  for index in range(MAX_PHONES) if raw.get(f"phone{index}_number")]  # fmt: skip
        payload = {**item.payload, "phones": phones, "address": raw.get("address") or None,
                   "preferred_language": raw.get("preferred_language") or "en"}  # fmt: skip
        return Typed(payload)
    if kind == HL7InboxKind.update_demographics:
        return Typed(
            {**item.payload, **{name: raw.get(name, "") for name in ("given_name", "family_name", "birth_date")}}
        )
    return Typed(None)


class FieldProblem(InvalidInput):
    """What was typed in one field cannot be read; `field` names it."""

    def __init__(self, message: str, field: str):
        self.field = field
        super().__init__(message)


def _typed_moment(raw: str, name: str, what: str) -> datetime | None:
    try:
        return typed_moment(raw, what=what)
    except InvalidInput as error:
        raise FieldProblem(str(error), name) from None


def _case_number(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= 2**31 - 1):
        raise FieldProblem("Enter the number of the case to record this on", "case_id")
    return int(raw)
