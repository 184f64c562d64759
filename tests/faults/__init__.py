"""Fault injection with real processes: SIGKILL mid-work, PostgreSQL restarts, racing HTTP clients."""
