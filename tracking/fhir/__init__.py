"""FHIR R4 out, read-only, under /fhir: the workup as Patients, ServiceRequests, Tasks, Observations,
DiagnosticReports, Communications and the Practitioners who own the Tasks.

Resources are plain JSON dicts shaped as FHIR R4 (4.0.1); the tests validate them with the R4B models
of `fhir.resources`. One module per resource type (its query, its search parameters and its JSON);
every code, code system and status table lives in `codes.py`.
"""
