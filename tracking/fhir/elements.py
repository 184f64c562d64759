"""FHIR data types as JSON: instants, references, codings, concepts; and the context a request builds in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracking.pathway.definition import Pathway, find_pathway
from tracking.settings import Settings, get_settings
from tracking.web.presenters import step_title


def instant(moment: datetime) -> str:
    """A stored moment as a FHIR instant in UTC: 2026-03-02T09:00:00Z (fractions of a second kept)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reference(resource_type: str, resource_id: int | str, display: str | None = None) -> dict[str, Any]:
    return clean({"reference": f"{resource_type}/{resource_id}", "display": display})


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return clean({"system": system, "code": code, "display": display})


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    return clean({"coding": list(codings), "text": text})


def clean(value: Any) -> Any:
    """`value` without the None values, empty strings, lists and objects FHIR JSON does not allow."""
    if isinstance(value, dict):
        cleaned = {key: clean(item) for key, item in value.items()}
        return {key: item for key, item in cleaned.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [item for item in (clean(item) for item in value) if item not in (None, "", [], {})]
    return value


@dataclass
class FhirContext:
    """What building resources needs besides the rows: the base URL, the MRN system, step titles."""

    base: str  # https://workup.example.org/fhir
    mrn_system: str
    centre_name: str
    _pathways: dict[tuple[str, int], Pathway | None] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> FhirContext:
        settings = settings or get_settings()
        return cls(f"{settings.base_url.rstrip('/')}/fhir", settings.mrn_system, settings.centre_name)

    def system(self, name: str) -> str:
        """The URI of one of the product's own code systems (tracking/fhir/codes.py)."""
        return f"{self.base}/CodeSystem/{name}"

    def url(self, resource_type: str, resource_id: int | str) -> str:
        return f"{self.base}/{resource_type}/{resource_id}"

    def step_title(self, pathway_name: str, pathway_version: int, kind: str) -> str:
        """The step's title in its case's pathway; each pathway looked up once per request."""
        key = (pathway_name, pathway_version)
        if key not in self._pathways:
            try:
                self._pathways[key] = find_pathway(pathway_name, pathway_version)
            except LookupError:
                self._pathways[key] = None
        return step_title(self._pathways[key], kind)
