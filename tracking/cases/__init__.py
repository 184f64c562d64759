"""Patients, cases, steps, events and prior-film requests."""
