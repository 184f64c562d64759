"""Overdue alerts and their escalation."""
