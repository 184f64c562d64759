"""`workup worker` as a process: it serves a recorded event, touches its alive file, and on SIGTERM
finishes and exits 0 with nothing on stderr but its start line's neighbours (no traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.worker_support import new_case, record_suspicious_read, served, wait_for
from tracking.settings import REPO_ROOT

WORKUP = str(Path(sys.executable).parent / "workup")


def test_workup_worker_serves_an_event_and_exits_cleanly_on_sigterm(
    prefect_harness, committed, database_url, configure, smtp, tmp_path
):
    from prefect.settings import PREFECT_API_URL

    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test")
    alive = tmp_path / "alive"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env |= {"DATABASE_URL": database_url, "PREFECT_API_URL": PREFECT_API_URL.value(), "WORKUP_HOME": str(tmp_path),
            "WORKUP_CASE_RUNS_EVERY_SECONDS": "3600", "WORKUP_DELIVERY_EVERY_SECONDS": "3600"}  # fmt: skip
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        process = subprocess.Popen([WORKUP, "worker", "--alive-file", str(alive)], cwd=REPO_ROOT, env=env,
                                   stdout=out, stderr=err, start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: alive.exists() or process.poll() is not None, "the worker's first look", timeout=120)
        assert process.poll() is None, (tmp_path / "err").read_text()
        case_id = new_case(committed, "PROC-1")
        wait_for(served(committed, case_id, runs=1, notices=0), "the opening's run, in the worker process")
        record_suspicious_read(committed, case_id)
        wait_for(served(committed, case_id, runs=2, notices=1), "the event's run and notice")
        assert [mail.recipients for mail in smtp.received] == [["nav@center.test"]]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    assert "Worker listening" in (tmp_path / "out").read_text()
    errors = (tmp_path / "err").read_text()
    assert "Traceback" not in errors and "Worker" not in errors, errors
