"""Patients: who she is and how to reach her."""
