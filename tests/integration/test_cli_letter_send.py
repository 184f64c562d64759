"""`workup letter send`: the real command against the test database (queueing only; delivery is in
tests/flows/test_letter_channels.py)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from sqlmodel import Session

from tests.integration.test_cli import WORKUP, count, one_clear_line
from tests.letters_support import T1, open_letter_case
from tracking.letters.service import mark_letter_sent, produce_letter

NOW = T1.replace(hour=15)
TLS = {"WORKUP_SMTP_STARTTLS": "true", "WORKUP_SMTP_SSL": "false", "WORKUP_FAX_GATEWAY": "{number}@fax.center.test"}


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "nav:cli-test", **TLS, **(env or {})}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


@pytest.fixture
def letters(committed) -> dict[str, int]:
    """Letters of one case: to the facility (fax), to the referrer (fax, no number known), to the patient, one
    already sent."""
    with Session(committed) as session:
        case_id = open_letter_case(session, mrn="CLI-SEND-1", given_name="Rosalind", family_name="Okafor",
                                   density="c", birads_read="4B", missed=False).case_id  # fmt: skip
        made = {kind: produce_letter(session, case_id, kind, actor="nav", now=NOW)[0].id
                for kind in ("prior_film_request", "referrer_report", "result")}  # fmt: skip
        made["sent"] = produce_letter(session, case_id, "referrer_report", actor="nav", now=NOW)[0].id
        mark_letter_sent(session, made["sent"], actor="nav", now=NOW)
        session.commit()
    return made


def test_send_queues_the_fax_to_the_gateway(workup, letters, committed):
    done = workup("letter", "send", str(letters["prior_film_request"]), "--json")
    assert done.returncode == 0, done.stderr
    queued = json.loads(done.stdout)
    assert (queued["channel"], queued["address"], queued["status"]) == ("fax", "16175550100@fax.center.test", "queued")
    assert count(committed, "notifications") == 1
    again = workup("letter", "send", str(letters["prior_film_request"]))
    assert again.returncode == 2 and "already queued for delivery" in one_clear_line(again)
    referrer = workup("letter", "send", str(letters["referrer_report"]), "--to", "+1 617 555 0199")
    assert referrer.returncode == 0, referrer.stderr
    assert "by fax to 16175550199@fax.center.test" in referrer.stdout and "Okafor" not in referrer.stdout


@pytest.mark.parametrize(
    ("letter", "args", "env", "code", "says"),
    [
        ("unknown", [], {}, 3, "letter 987654 does not exist"),
        ("sent", [], {}, 2, "already sent"),
        ("referrer_report", [], {}, 2, "no fax number is recorded for them; give the fax number"),
        ("referrer_report", ["--to", "call me"], {}, 2, "'call me' is not a valid fax number"),
        ("referrer_report", ["--to", "+1 617\n555 0199"], {}, 2, "is not a valid fax number"),
        ("result", [], {}, 2, "letters to patients are printed and posted"),
        ("prior_film_request", [], {"WORKUP_FAX_GATEWAY": ""}, 2, "set WORKUP_FAX_GATEWAY"),
        ("prior_film_request", [], {"WORKUP_SMTP_STARTTLS": "false"}, 2,
         "over plain SMTP: set WORKUP_SMTP_STARTTLS=true (STARTTLS) or WORKUP_SMTP_SSL=true"),
    ],
)  # fmt: skip
def test_bad_send_is_one_clear_line_and_queues_nothing(workup, letters, committed, letter, args, env, code, says):
    letter_id = letters.get(letter, 987654)
    done = workup("letter", "send", str(letter_id), *args, env=env)
    assert done.returncode == code, done.stderr
    assert says in one_clear_line(done)
    assert count(committed, "notifications") == 0


@pytest.mark.parametrize(
    ("bad_id", "says"),
    [("0", "'letter_id'"), ("abc", "'letter_id'"), ("99999999999", "'letter_id'"), ("-1", "No such option: -1")],
)
def test_bad_letter_ids_are_usage_errors(workup, bad_id, says):
    done = workup("letter", "send", bad_id)
    assert done.returncode == 2 and says in one_clear_line(done)
