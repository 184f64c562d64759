"""Prefect flows. Thin: each calls tracking services and owns its transactions."""

from tracking.logs import install as _install_log_scrubber

_install_log_scrubber()  # a worker's flow process imports this first: no patient data in its logs
