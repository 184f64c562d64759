"""Notifications through an outbox: written with the decision, delivered with retries."""
