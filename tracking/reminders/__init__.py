"""Reminders: chasing prior films, reminders before follow-up visits, missed-appointment contact."""
