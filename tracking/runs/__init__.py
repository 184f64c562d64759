"""Durable "case needs a run" requests, claimed by the runner that starts the workup flow."""
