"""`workup letter render` and `workup letters --due`: the real command against the test database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.integration.test_cli import WORKUP, count, one_clear_line
from tests.letters_support import DENSE, ES_DENSE_KEY, NOT_DENSE, open_letter_case, pdf_text
from tracking.settings import REPO_ROOT


@pytest.fixture
def workup(database_url, committed):
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test", **(env or {})}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return run


@pytest.fixture
def cases(committed) -> dict[str, int]:
    """A dense BI-RADS 4B case (lay summary due in 7 days) and a not-dense BI-RADS 3 case (30 days)."""
    with Session(committed, expire_on_commit=False) as session:
        dense = open_letter_case(session, mrn="CLI-LTR-1", given_name="Rosalind", family_name="Okafor", density="c",
                                 birads_read="4B")  # fmt: skip
        benign = open_letter_case(session, mrn="CLI-LTR-2", given_name="Imelda", family_name="Varga", density="b",
                                  birads_read="3", facility=False, missed=False)  # fmt: skip
        session.commit()
    return {"dense": dense.case_id, "benign": benign.case_id}


def test_render_writes_the_pdf_and_records_it(workup, cases, committed, tmp_path):
    out = tmp_path / "result.pdf"
    done = workup("letter", "render", str(cases["dense"]), "--kind", "result", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    pdf = out.read_bytes()
    words = pdf_text(pdf, tmp_path, "read.pdf")
    assert "Rosalind Okafor" in words and DENSE in words
    assert summary["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert (summary["kind"], summary["language"], summary["status"]) == ("result", "en", "produced")
    with committed.connect() as connection:
        row = connection.execute(
            text("SELECT case_id, produced_by, pdf_sha256 FROM letters WHERE id = :id"), {"id": summary["letter_id"]}
        ).one()
    assert tuple(row) == (cases["dense"], "ops:cli-test", hashlib.sha256(pdf).hexdigest())


def test_render_in_spanish(workup, cases, tmp_path):
    out = tmp_path / "carta.pdf"
    done = workup("letter", "render", str(cases["dense"]), "--kind", "result", "--out", str(out), "--language", "es")
    assert done.returncode == 0, done.stderr
    assert "written to" in done.stdout
    words = pdf_text(out.read_bytes(), tmp_path, "read.pdf")
    assert "Rosalind Okafor" in words and ES_DENSE_KEY in words and "Los resultados de su mamografía" in words


def test_not_dense_and_reprint(workup, cases, tmp_path):
    out = tmp_path / "benign.pdf"
    done = workup("letter", "render", str(cases["benign"]), "--kind", "result", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert NOT_DENSE in pdf_text(out.read_bytes(), tmp_path, "read.pdf")
    letter_id = json.loads(done.stdout)["letter_id"]
    again = tmp_path / "again.pdf"
    reprinted = workup("letter", "reprint", str(letter_id), "--out", str(again))
    assert reprinted.returncode == 0, reprinted.stderr
    assert "the same bytes as the letter recorded" in reprinted.stdout
    assert again.read_bytes() == out.read_bytes()
    sent = workup("letter", "sent", str(letter_id))
    assert sent.returncode == 0, sent.stderr
    twice = workup("letter", "sent", str(letter_id))
    assert twice.returncode == 2 and "already marked sent" in one_clear_line(twice)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--kind", "memo"], 2, "unknown letter kind 'memo'"),
        (["--kind", "result", "--language", "xx"], 2, "no letter templates in language 'xx'; available: en, es"),
        (["--kind", "result", "--out-dir-missing"], 2, "the folder"),
        (["--kind", "result", "--out-is-folder"], 2, "is a folder"),
        (["--kind", "followup_reminder"], 2, "no BI-RADS 3 follow-up exam open"),
    ],
)
def test_bad_render_is_one_clear_line_and_writes_nothing(workup, cases, committed, tmp_path, args, code, says):
    out = tmp_path / "letter.pdf"
    if "--out-dir-missing" in args:
        args, out = args[:-1], tmp_path / "no" / "such" / "letter.pdf"
    if "--out-is-folder" in args:
        args, out = args[:-1], tmp_path
    done = workup("letter", "render", str(cases["dense"]), *args, "--out", str(out))
    assert done.returncode == code
    assert says in one_clear_line(done)
    assert not (tmp_path / "letter.pdf").exists()
    assert count(committed, "letters") == 0


def test_unknown_case_exits_3(workup, cases, tmp_path):
    done = workup("letter", "render", "987654", "--kind", "result", "--out", str(tmp_path / "x.pdf"))
    assert done.returncode == 3 and "case 987654 does not exist" in one_clear_line(done)


def test_broken_template_is_one_line_naming_file_and_line(workup, cases, committed, tmp_path):
    folder = tmp_path / "letters"
    shutil.copytree(REPO_ROOT / "config" / "letters", folder)
    template = folder / "en" / "result.html"
    lines = template.read_text(encoding="utf-8").splitlines()
    lines[6] = "<p>{% if %}</p>"
    template.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "letter.pdf"
    done = workup("letter", "render", str(cases["dense"]), "--kind", "result", "--out", str(out),
                  env={"WORKUP_LETTERS_DIR": str(folder)})  # fmt: skip
    assert done.returncode == 6
    assert f"{template} line 7" in one_clear_line(done)
    assert not out.exists() and count(committed, "letters") == 0


def test_letters_due_json_lists_deadlines_with_ids_only(workup, cases):
    done = workup("letters", "--due", "--json", "--now", "2026-03-05T09:00:00+00:00")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(row["case_id"], row["kind"], row["due"], row["days_left"], row["overdue"]) for row in rows] == [
        (cases["dense"], "result", "2026-03-10", 5, False),  # BI-RADS 4B: 7 days from the read on March 3
        (cases["benign"], "result", "2026-04-02", 28, False),  # BI-RADS 3: 30 days
    ]
    for name in ("Okafor", "Rosalind", "Varga", "CLI-LTR"):
        assert name not in done.stdout
    late = json.loads(workup("letters", "--due", "--json", "--now", "2026-03-12T09:00:00+00:00").stdout)
    assert (late[0]["days_left"], late[0]["overdue"]) == (-2, True)
    table = workup("letters", "--due", "--now", "2026-03-12T09:00:00+00:00")
    assert table.returncode == 0 and "OVERDUE 2 days" in table.stdout


def test_letter_sent_completes_the_result_letter_step_and_alerts_list_unsent_letters(
    workup, cases, committed, tmp_path
):
    """`workup letter sent` calls the same service as the page: the lay summary completes its step."""
    rendered = workup("letter", "render", str(cases["dense"]), "--kind", "result", "--out", str(tmp_path / "a.pdf"),
                      "--json")  # fmt: skip
    letter_id = json.loads(rendered.stdout)["letter_id"]
    report = workup("letter", "render", str(cases["dense"]), "--kind", "referrer_report", "--out",
                    str(tmp_path / "b.pdf"), "--json")  # fmt: skip
    report_id = json.loads(report.stdout)["letter_id"]
    swept = workup("sweep", "--now", "2027-01-01T00:00:00+00:00", "--allow-future", "--json")
    assert swept.returncode == 0 and json.loads(swept.stdout)["letters_unsent"] == 2
    listed = json.loads(workup("alerts", "--open", "--case", str(cases["dense"]), "--json").stdout)
    unsent = sorted(row["headline"] for row in listed if row["kind"] == "letter_unsent")
    assert unsent[0].startswith(f"Letter {letter_id} (lay summary, produced ")
    assert unsent[1].startswith(f"Letter {report_id} (report to the referring provider, produced ")

    done = workup("letter", "sent", str(letter_id))
    assert done.returncode == 0, done.stderr
    text_out = " ".join(done.stdout.split())
    assert f"Letter {letter_id} (lay summary, case {cases['dense']}) marked sent with the dense-tissue statement" in (
        text_out
    )
    assert "the result-letter step is complete (event" in text_out
    with committed.connect() as connection:
        step = connection.execute(
            text("SELECT status FROM steps WHERE case_id = :c AND kind = 'result_letter'"), {"c": cases["dense"]}
        ).scalar_one()
        alerts = dict(connection.execute(
            text("SELECT letter_id, status FROM alerts WHERE kind = 'letter_unsent'")).all())  # fmt: skip
    assert step == "completed"
    assert alerts == {letter_id: "resolved", report_id: "open"}
