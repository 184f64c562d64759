"""Prefect flows. Thin: each calls tracking services and owns its transactions."""
