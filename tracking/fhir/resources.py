"""The resource types /fhir serves: each module has TYPE, SEARCH (its parameters), read() and search()."""

from __future__ import annotations

from types import ModuleType

from tracking.fhir import (
    communication,
    diagnostic_report,
    observation,
    patient,
    practitioner,
    service_request,
    task,
)

RESOURCES: dict[str, ModuleType] = {
    module.TYPE: module
    for module in (patient, practitioner, service_request, task, observation, diagnostic_report, communication)
}
