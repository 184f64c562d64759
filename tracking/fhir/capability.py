"""The CapabilityStatement at /fhir/metadata: what this server reads and searches, built from the resource
modules themselves, so it cannot claim a search parameter the server does not take."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from tracking.fhir import codes
from tracking.fhir.elements import FhirContext, clean
from tracking.fhir.params import DEFAULT_COUNT, MAX_COUNT
from tracking.fhir.resources import RESOURCES

PUBLISHED = "2026-11-27"  # when this statement last changed


def _software_version() -> str:
    try:
        return version("breast-workup")
    except PackageNotFoundError:
        return "unknown"


def capability_statement(context: FhirContext) -> dict[str, Any]:
    return clean({
        "resourceType": "CapabilityStatement",
        "id": "breast-workup",
        "status": "active",
        "date": PUBLISHED,
        "publisher": context.centre_name,
        "kind": "instance",
        "software": {"name": "breast-workup", "version": _software_version()},
        "implementation": {"description": f"breast-workup at {context.centre_name}: read-only", "url": context.base},
        "fhirVersion": codes.FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                f"Read-only. Searches page with _count (default {DEFAULT_COUNT}, at most {MAX_COUNT}) and _offset; "
                "_total=none skips counting. Unknown parameters and modifiers are refused (400)."
            ),
            "security": {
                "cors": False,
                "description": "Authorization: Bearer <token> (workup user token NAME), or a signed-in browser "
                "session. Every role may read.",
            },
            "resource": [
                {
                    "type": module.TYPE,
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "versioning": "no-version",
                    "readHistory": False,
                    "updateCreate": False,
                    "searchParam": [
                        {"name": param.name, "type": param.type, "documentation": param.documentation}
                        for param in module.SEARCH.values()
                    ],
                }
                for module in RESOURCES.values()
            ],
        }],
    })  # fmt: skip
