"""A broken letter template names its file and line; the letters table keeps every letter as produced."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from tests.letters_support import T1, open_letter_case
from tests.letters_support import letters_copy as copy_letters
from tracking.cases.errors import InvalidInput, LetterTemplateError, classify
from tracking.letters.models import Letter
from tracking.letters.service import mark_letter_sent, produce_letter, reprint_letter

NOW = T1.replace(hour=15)


@pytest.fixture
def letters_copy(tmp_path, configure):
    """A copy of config/letters that WORKUP_LETTERS_DIR points at, for the test to break."""
    folder = copy_letters(tmp_path)
    configure(WORKUP_LETTERS_DIR=folder)
    return folder


@pytest.fixture
def case(session):
    return open_letter_case(session, mrn="LTR-T1", given_name="Greta", family_name="Lindqvist", density="c",
                            birads_read="4A")  # fmt: skip


def break_line(path, line_number: int, replacement: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line_number - 1] = replacement
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("template", "line", "broken", "says"),
    [
        ("en/result.html", 7, "<p>Dear {{ patient.given_name </p>", "unexpected"),  # syntax error
        ("en/result.html", 9, "<p>{{ patient.nickname }}</p>", "'dict object' has no attribute 'nickname'"),
        ("en/_base.html", 9, "{% if certified_mail %}<p>{% endfor %}", "endfor"),  # in the shared frame
        ("es/result.html", 9, "{{ no_such_variable }}", "'no_such_variable' is undefined"),
    ],
)
def test_broken_template_names_file_and_line(session, case, letters_copy, template, line, broken, says):
    break_line(letters_copy / template, line, broken)
    language = template.split("/")[0]
    with pytest.raises(LetterTemplateError) as raised:
        produce_letter(session, case.case_id, "result", language=language, actor="t", now=NOW)
    message = str(raised.value)
    assert f"{letters_copy / template} line {line}" in message
    assert says in message
    assert "\n" not in message
    assert classify(raised.value).exit_code == 6
    assert session.exec(select(Letter)).all() == []  # nothing recorded


def test_missing_template_and_broken_density_table(session, case, letters_copy):
    (letters_copy / "en" / "referrer_report.html").unlink()
    with pytest.raises(LetterTemplateError, match=r"no letter template .*en/referrer_report\.html"):
        produce_letter(session, case.case_id, "referrer_report", actor="t", now=NOW)
    (letters_copy / "density.yaml").write_text("en: [unclosed\n", encoding="utf-8")
    with pytest.raises(LetterTemplateError, match=r"density statements .*density\.yaml line 2: not valid YAML"):
        produce_letter(session, case.case_id, "result", actor="t", now=NOW)


def test_a_template_cannot_read_files_outside_the_letters_folder(session, case, letters_copy, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not really")
    break_line(letters_copy / "en" / "result.html", 7, f'<img src="file://{secret}" alt="">')
    letter, pdf = produce_letter(session, case.case_id, "result", language="en", actor="t", now=NOW)
    assert b"not really" not in pdf  # the fetcher refused it; the letter still renders


def test_the_centre_edits_a_template_without_code(session, case, letters_copy, tmp_path):
    from tests.letters_support import pdf_text

    break_line(letters_copy / "en" / "result.html", 7, "<p>Dear {{ patient.given_name }}, hello from the centre.</p>")
    letter, pdf = produce_letter(session, case.case_id, "result", language="en", actor="t", now=NOW)
    assert "Dear Greta, hello from the centre." in pdf_text(pdf, tmp_path)
    # Reprinting after another edit is flagged as different from the letter recorded.
    assert reprint_letter(session, letter.id, actor="t", now=NOW).same_as_recorded
    break_line(letters_copy / "en" / "result.html", 7, "<p>Dear {{ patient.given_name }}, edited again.</p>")
    assert not reprint_letter(session, letter.id, actor="t", now=NOW).same_as_recorded


def test_mark_sent_once_and_nothing_else_changes(session, case):
    letter, _ = produce_letter(session, case.case_id, "result", actor="t", now=NOW)
    sent = mark_letter_sent(session, letter.id, actor="nav:ann", now=NOW.replace(hour=16))
    assert (sent.status, sent.sent_by) == ("sent", "nav:ann")
    with pytest.raises(InvalidInput, match=f"letter {letter.id} was already marked sent"):
        mark_letter_sent(session, letter.id, actor="nav:ann", now=NOW.replace(hour=17))


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("UPDATE letters SET inputs = '{}'::jsonb WHERE id = :id", "can only be marked sent"),
        ("UPDATE letters SET pdf_sha256 = repeat('0', 64) WHERE id = :id", "can only be marked sent"),
        (
            "UPDATE letters SET status = 'sent', sent_at = now(), sent_by = 'x', channel = 'fax' WHERE id = :id",
            "can only be marked sent",
        ),
        ("DELETE FROM letters WHERE id = :id", "cannot be deleted"),
        ("TRUNCATE letters CASCADE", "append-only"),  # CASCADE: alerts point at letters (migration 0011)
    ],
)
def test_the_database_keeps_letters_as_produced(session, case, statement, says):
    letter, _ = produce_letter(session, case.case_id, "result", actor="t", now=NOW)
    with pytest.raises(DBAPIError, match=says), session.begin_nested():
        session.execute(text(statement), {"id": letter.id})


def test_the_database_refuses_marking_sent_twice(session, case):
    letter, _ = produce_letter(session, case.case_id, "result", actor="t", now=NOW)
    mark = "UPDATE letters SET status = 'sent', sent_at = now(), sent_by = :by WHERE id = :id"
    session.execute(text(mark), {"id": letter.id, "by": "a"})
    with pytest.raises(DBAPIError, match="already marked sent"), session.begin_nested():
        session.execute(text(mark), {"id": letter.id, "by": "b"})
