"""No patient data in any log: a marked patient, database errors, refusals, deliveries, a failing flow.

Everything is a real process on a dedicated embedded PostgreSQL: the `workup` CLI (also with the
root logger at DEBUG, so SQLAlchemy logs every statement), a `workup serve` with its embedded
scheduler and Prefect server child, and a Prefect flow run that fails on a constraint. Test-only
constraints on `patients` make PostgreSQL answer with the values of the refused row
(`DETAIL:  Failing row contains (...)`, `Key (family_name)=(...) already exists.`). Every byte
the processes write to stderr and stdout (the CLI's stdout excepted: it is the answer to the
person who asked), the Prefect server's log file and the flow-run logs stored in Prefect must be
free of the marker MRN, names and birth date.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.faults.conftest import SERVER_START_SECONDS, free_port, navigator_tokens, poll
from tracking.settings import REPO_ROOT

pytestmark = pytest.mark.faults

WORKUP = str(Path(sys.executable).with_name("workup"))
BIRTH_DATE = "1931-07-19"

# A Prefect flow that fails on a constraint while opening the marked patient's case. It calls
# flow_now() first, as every flow of ours does (that puts the scrubber on Prefect's handlers too).
PROBE_FLOW = """
import os, sys
from prefect import flow
from flows.runtime import flow_now
from tracking.cases.opening import CaseOpening, FacilityRef, open_case
from tracking.db import session_scope

@flow(name="phi_probe", retries=0)
def phi_probe() -> None:
    now = flow_now(None)
    opening = CaseOpening(mrn=os.environ["PROBE_MRN"], given_name=os.environ["PROBE_GIVEN"],
                          family_name=os.environ["PROBE_FAMILY"], birth_date=os.environ["PROBE_BIRTH"],
                          finding_type="calcifications", laterality="left", density="c", birads="0", facilities=[])
    with session_scope() as session:
        open_case(session, opening, actor="probe", now=now)

state = phi_probe(return_state=True)
print("FLOW_RUN", state.state_details.flow_run_id, state.type.value, flush=True)
sys.exit(3 if state.is_failed() else 0)
"""

DEBUG_CLI = (  # the root logger at DEBUG and SQLAlchemy's engine logging every statement
    "import logging, sys; logging.basicConfig(level=logging.DEBUG); "
    "logging.getLogger('sqlalchemy.engine').setLevel(logging.DEBUG); "
    "from tracking.cli import main; sys.exit(main(sys.argv[1:]))"
)


class Marker:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.mrn = f"PHIMRN{tag}"
        self.given = f"Zephyrine{tag}"
        self.family = f"Quillfeather{tag}"
        self.words = (self.mrn, self.given, self.family, BIRTH_DATE)

    def leaks(self, where: str, output: str) -> list[str]:
        return [f"{where}: {word!r} in …{output[max(0, output.find(word) - 300) : output.find(word) + 200]}…"
                for word in self.words if word in output]  # fmt: skip

    def opening(self, **changes) -> dict:
        body = {"mrn": self.mrn, "given_name": self.given, "family_name": self.family, "birth_date": BIRTH_DATE,
                "finding_type": "calcifications", "laterality": "left", "density": "c", "birads": "0",
                "facilities": [{"name": "Probe Imaging", "channel": "email", "contact": "films@probe.test"}]}  # fmt: skip
        return body | changes


def cli_args(body: dict) -> list[str]:
    args = ["case", "open", "--mrn", body["mrn"], "--given-name", body["given_name"], "--family-name",
            body["family_name"], "--birth-date", body["birth_date"], "--laterality", body["laterality"],
            "--density", body["density"]]  # fmt: skip
    for facility in body["facilities"]:
        args += ["--facility", f"{facility['name']}={facility['channel']}:{facility['contact']}"]
    return args


def run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def marked_database(dedicated_postgres, tmp_path):
    """(env for our processes, URL, marker): a migrated dedicated database with test-only constraints."""
    _, url = dedicated_postgres
    marker = Marker()
    env = {**os.environ, "DATABASE_URL": url, "WORKUP_HOME": str(tmp_path / "home"), "WORKUP_ACTOR": "phi-test",
           "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    upgraded = run([WORKUP, "db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    engine = create_engine(url)
    with engine.begin() as connection:  # refusals that quote the refused row's values
        connection.execute(text("ALTER TABLE patients ADD CONSTRAINT phi_probe_check "
                                f"CHECK (mrn NOT LIKE '{marker.mrn}C%') NOT VALID"))  # fmt: skip
        connection.execute(text("CREATE UNIQUE INDEX phi_probe_unique ON patients (family_name) "
                                "WHERE family_name LIKE 'Quillfeather%'"))  # fmt: skip
    try:
        yield env, url, marker, engine
    finally:
        engine.dispose()


def test_no_patient_data_in_any_log(marked_database, tmp_path):
    env, url, marker, engine = marked_database
    leaks: list[str] = []

    # --- the CLI: open the marked case, then database refusals and a pathway refusal --------------
    opened = run([WORKUP, *cli_args(marker.opening()), "--json"], env)
    assert opened.returncode == 0, opened.stderr
    leaks += marker.leaks("workup case open (stderr)", opened.stderr)
    case_id = json.loads(opened.stdout)["case_id"]
    unique = marker.opening(mrn=marker.mrn + "U")  # same family name: the unique index refuses
    check = marker.opening(mrn=marker.mrn + "C")  # the CHECK constraint refuses the whole row
    for name, body in (("unique", unique), ("check", check)):
        refused = run([WORKUP, *cli_args(body)], env)
        assert refused.returncode != 0, (name, refused.stdout)
        leaks += marker.leaks(f"workup case open, {name} violation (stderr)", refused.stderr + refused.stdout)
        debug = run([sys.executable, "-c", DEBUG_CLI, *cli_args(body)], env)  # every statement logged
        assert debug.returncode != 0 and "INSERT INTO patients" in debug.stderr, debug.stderr[-2000:]
        leaks += marker.leaks(f"workup at DEBUG, {name} violation (stderr)", debug.stderr + debug.stdout)
    refusal = run([WORKUP, "event", "record", str(case_id), "biopsy_result", "--data", '{"histology": "x"}'], env)
    assert refusal.returncode != 0
    leaks += marker.leaks("workup event record refusal", refusal.stderr + refusal.stdout)
    # a NUL in a name, through a JSON file (an argument cannot carry one): refused, and said without the name
    nul_file = tmp_path / "nul.json"
    nul_file.write_text(json.dumps(marker.opening(mrn=marker.mrn + "N", given_name=marker.given + "\u0000")))
    nul = run([WORKUP, "case", "open", "--file", str(nul_file)], env)
    assert nul.returncode == 2, nul.stderr
    leaks += marker.leaks("workup case open with a NUL in the name", nul.stderr + nul.stdout)
    for command in (["case", "show", str(case_id), "--json"], ["overdue", "--csv"], ["worklist"], ["outbox"]):
        shown = run([WORKUP, *command], env)
        leaks += marker.leaks(f"workup {' '.join(command)} (stderr)", shown.stderr)
    for command in (["screening"], ["screening", "--json"], ["alerts", "--json"]):  # ids only, out and err
        shown = run([WORKUP, *command], env)
        leaks += marker.leaks(f"workup {' '.join(command)}", shown.stderr + shown.stdout)

    # --- workup serve: the web app, the embedded scheduler and its Prefect server child -----------
    [token] = navigator_tokens(engine, "phi-nav")
    port = free_port()
    serve_env = env | {
        "WORKUP_SCHEDULER_ENABLED": "true", "WORKUP_CASE_RUNS_EVERY_SECONDS": "1",
        "WORKUP_DELIVERY_EVERY_SECONDS": "1", "WORKUP_SWEEP_EVERY_SECONDS": "2", "WORKUP_REMINDERS_EVERY_SECONDS": "2",
        "WORKUP_SMTP_HOST": "127.0.0.1", "WORKUP_SMTP_PORT": str(free_port()),  # nobody listens: deliveries fail
        "WORKUP_DELIVERY_BACKOFF_SECONDS": "1",
    }  # fmt: skip
    out_path, err_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        serve = subprocess.Popen([WORKUP, "serve", "--port", str(port)], cwd=REPO_ROOT, env=serve_env, stdout=out,
                                 stderr=err, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS + 120  # the Prefect child migrates its store first
        while True:
            assert serve.poll() is None, err_path.read_text(errors="replace")[-4000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "workup serve did not answer /healthz"
            time.sleep(0.2)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for name, body in (("unique", unique), ("check", check)):
            answer = api.post("/api/cases", json=body)
            assert answer.status_code >= 400, (name, answer.status_code)
            leaks += marker.leaks(f"POST /api/cases {name} violation (answer)", answer.text)
        nul = api.post("/api/cases", json=marker.opening(mrn=marker.mrn + "N", family_name=marker.family + "\x00"))
        assert nul.status_code == 422, nul.text
        leaks += marker.leaks("POST /api/cases with a NUL in the name (answer)", nul.text)
        refused = api.post(f"/api/cases/{case_id}/events", json={"kind": "biopsy_result", "data": {"histology": "x"}})
        assert refused.status_code >= 400
        assert api.get("/api/cases/99999999").status_code == 404
        assert api.get("/api/overdue").status_code == 200
        recall = api.get("/api/screening")
        assert recall.status_code == 200
        leaks += marker.leaks("GET /api/screening (answer)", recall.text)

        # the scheduler's flows ran for the marked case: its prior-film request was tried (and failed)
        def delivery_tried() -> bool:
            with engine.connect() as connection:
                return bool(connection.execute(text("SELECT count(*) FROM notifications WHERE case_id = :id "
                                                    "AND attempts > 0"), {"id": case_id}).scalar_one())  # fmt: skip

        poll(delivery_tried, "a delivery attempt for the marked case", timeout=120, pause=0.5)
        where = re.search(r"\((http://127\.0\.0\.1:\d+/api)\)", out_path.read_text(errors="replace"))
        assert where, out_path.read_text(errors="replace")
        prefect_api = where.group(1)

        # --- a Prefect flow run that fails on the CHECK constraint, reporting to that server -------
        probe = run([sys.executable, "-c", PROBE_FLOW], env | {
            "PREFECT_API_URL": prefect_api, "PROBE_MRN": marker.mrn + "C", "PROBE_GIVEN": marker.given,
            "PROBE_FAMILY": marker.family, "PROBE_BIRTH": BIRTH_DATE}, timeout=300)  # fmt: skip
        assert probe.returncode == 3, probe.stdout[-2000:] + probe.stderr[-4000:]
        assert "CheckViolation" in probe.stderr or "IntegrityError" in probe.stderr, probe.stderr[-4000:]
        leaks += marker.leaks("the failing flow run (stderr)", probe.stderr)
        leaks += marker.leaks("the failing flow run (stdout)", probe.stdout)
        flow_run_id = re.search(r"FLOW_RUN (\S+)", probe.stdout).group(1)
        stored = httpx.post(f"{prefect_api}/logs/filter", json={"limit": 200}, timeout=30)
        stored.raise_for_status()
        run_logs = [entry for entry in stored.json() if entry.get("flow_run_id") == flow_run_id]
        assert any("Traceback" in entry["message"] for entry in run_logs), run_logs  # the failure was logged
        leaks += marker.leaks("flow-run logs stored in Prefect", json.dumps(stored.json()))
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait(timeout=10)
    leaks += marker.leaks("workup serve (stderr)", err_path.read_text(errors="replace"))
    leaks += marker.leaks("workup serve (stdout)", out_path.read_text(errors="replace"))
    server_logs = list(Path(env["PREFECT_HOME"]).rglob("*.log"))
    assert server_logs, "the Prefect server child's log file was not found"
    for log_file in server_logs:
        leaks += marker.leaks(str(log_file), log_file.read_text(errors="replace"))
    assert not leaks, "patient data in logs:\n" + "\n".join(leaks)
