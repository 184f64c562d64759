"""Letters rendered to PDF for cases opened through open_case on real PostgreSQL, read back with pdftotext."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.letters_support import DENSE, ES_DENSE_KEY, ES_NOT_DENSE_KEY, NOT_DENSE, T0, T1, open_letter_case, pdf_text
from tracking.audit import AuditEntry
from tracking.cases.errors import InvalidInput, NotFound
from tracking.letters.kinds import LetterKind
from tracking.letters.models import Letter
from tracking.letters.service import produce_letter, render_letter

NOW = T1.replace(hour=15)
# Expected dates, worked out by hand from the timeline in tests/letters_support.py.
DATES = {
    "exam": {"en": "March 3, 2026", "es": "3 de marzo de 2026"},  # magnification views read at T1
    "lay_summary_due_4b": {"en": "March 10, 2026", "es": "10 de marzo de 2026"},  # 7 days: BI-RADS 4B
    "films_by": {"en": "April 1, 2026", "es": "1 de abril de 2026"},  # prior_film_request: 30 days from T0
    "reply_by": {"en": "March 7, 2026", "es": "7 de marzo de 2026"},  # patient_contact: 3 days from T2
    "followup_target": {"en": "September 3, 2026", "es": "3 de septiembre de 2026"},  # 6 months from T1
    "followup_end": {"en": "October 3, 2026", "es": "3 de octubre de 2026"},  # ... and its 30-day window
}
LANGUAGES = ("en", "es")


@pytest.fixture
def dense_case(session):
    return open_letter_case(session, mrn="LTR-D1", given_name="Rosalind", family_name="Okafor", density="c",
                            birads_read="4B")  # fmt: skip


@pytest.fixture
def probably_benign_case(session):
    return open_letter_case(session, mrn="LTR-B1", given_name="Imelda", family_name="Varga", density="b",
                            birads_read="3", facility=False, missed=False)  # fmt: skip


def expected_in(kind: str, language: str) -> list[str]:
    dates = {key: value[language] for key, value in DATES.items()}
    spanish = language == "es"
    return {
        "result": [dates["exam"], ES_DENSE_KEY if spanish else DENSE],
        "referrer_report": ["Okafor, Rosalind", "LTR-D1", "Dr. Ana Ruiz", dates["lay_summary_due_4b"]],
        "prior_film_request": [
            "Northside Imaging LTR-D1",
            "+16175550100",
            dates["films_by"],
            "45 CFR 164.506",
            "Autorización" if spanish else "Release",
        ],
        "missed_appointment": [dates["reply_by"], "ecografía" if spanish else "ultrasound"],
        "final_missed_appointment": [dates["reply_by"], "CERTIFIED MAIL"],
        "followup_reminder": [dates["followup_target"], dates["followup_end"]],
    }[kind]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [kind.value for kind in LetterKind])
def test_every_kind_in_both_languages_reads_back(session, dense_case, probably_benign_case, tmp_path, kind, language):
    seeded = probably_benign_case if kind == "followup_reminder" else dense_case
    letter, pdf = produce_letter(session, seeded.case_id, kind, language=language, actor="nav:test", now=NOW)
    words = pdf_text(pdf, tmp_path)
    assert seeded.family_name in words and seeded.given_name in words
    for expected in expected_in(kind, language):
        assert expected in words, (expected, words)
    assert "Riverside Breast Imaging Centre" in words and "100 Harbour Street" in words  # the letterhead
    assert (letter.kind, letter.language, letter.status, letter.produced_by) == (kind, language, "produced", "nav:test")
    assert letter.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    # The record, read back from the database, renders the same bytes (so the same text) again.
    session.expire_all()
    stored = session.get(Letter, letter.id)
    again = render_letter(stored.inputs)
    assert hashlib.sha256(again).hexdigest() == stored.pdf_sha256
    assert pdf_text(again, tmp_path, "again.pdf") == words


@pytest.mark.parametrize(("language", "statement"), [("en", NOT_DENSE), ("es", ES_NOT_DENSE_KEY)])
def test_not_dense_tissue_gets_the_not_dense_statement(session, probably_benign_case, tmp_path, language, statement):
    _, pdf = produce_letter(session, probably_benign_case.case_id, "result", language=language, actor="t", now=NOW)
    words = pdf_text(pdf, tmp_path)
    assert statement in words
    assert DENSE not in words and ES_DENSE_KEY not in words


def test_spanish_statement_is_the_whole_translation(session, dense_case, tmp_path):
    _, pdf = produce_letter(session, dense_case.case_id, "result", language="es", actor="t", now=NOW)
    assert (
        "El tejido mamario puede ser denso o no denso. El tejido denso hace que sea más difícil encontrar el cáncer de "
        "mama en una mamografía y también aumenta el riesgo de desarrollar cáncer de mama. Su tejido mamario es denso. "
        "En algunas personas con tejido denso, otras pruebas de imagen además de una mamografía pueden ayudar a "
        "encontrar cánceres. Hable con su proveedor de atención médica sobre la densidad mamaria, los riesgos de "
        "cáncer de mama y su situación individual."
    ) in pdf_text(pdf, tmp_path)


def test_result_letter_records_the_step_and_the_statement(session, dense_case):
    letter, _ = produce_letter(session, dense_case.case_id, "result", actor="t", now=NOW)
    step_id, due = session.execute(
        text("SELECT id, due_at FROM steps WHERE case_id = :c AND kind = 'result_letter'"), {"c": dense_case.case_id}
    ).one()
    assert letter.step_id == step_id
    assert (due - T1).days == 7  # the pathway's by_birads rule for 4B
    assert letter.inputs["assessment"]["density_statement"] == DENSE
    assert letter.inputs["assessment"]["lay_summary_due"] == "2026-03-10"
    assert (letter.recipient_kind, letter.channel, letter.facility_id) == ("patient", "print_post", None)


def test_the_patients_language_is_chosen_and_a_missing_one_falls_back_to_english(session, tmp_path):
    spanish = open_letter_case(session, mrn="LTR-ES", given_name="Lucía", family_name="Peña", density="d",
                               birads_read="4A", language="es-MX", facility=False, missed=False)  # fmt: skip
    letter, pdf = produce_letter(session, spanish.case_id, "result", actor="t", now=NOW)
    assert letter.language == "es" and "language_fallback_from" not in letter.inputs
    assert ES_DENSE_KEY in pdf_text(pdf, tmp_path)
    report, _ = produce_letter(session, spanish.case_id, "referrer_report", actor="t", now=NOW)
    assert report.language == "en"  # providers read the centre's language
    other = open_letter_case(session, mrn="LTR-VI", given_name="Lan", family_name="Tran", density="a",
                             birads_read="3", language="vi", facility=False, missed=False)  # fmt: skip
    letter, pdf = produce_letter(session, other.case_id, "result", actor="t", now=NOW)
    assert letter.language == "en" and letter.inputs["language_fallback_from"] == "vi"
    assert NOT_DENSE in pdf_text(pdf, tmp_path)


def test_film_request_goes_to_the_facility_by_its_channel(session, dense_case):
    letter, _ = produce_letter(session, dense_case.case_id, "prior_film_request", actor="t", now=NOW)
    facility_id = session.execute(
        text("SELECT facility_id FROM steps WHERE case_id = :c AND kind = 'prior_film_request'"),
        {"c": dense_case.case_id},
    ).scalar_one()
    assert (letter.recipient_kind, letter.facility_id, letter.channel) == ("facility", facility_id, "fax")


@pytest.mark.parametrize(
    ("kind", "options", "error", "words"),
    [
        ("memo", {}, InvalidInput, "unknown letter kind 'memo'"),
        ("result", {"language": "fr"}, InvalidInput, "no letter templates in language 'fr'; available: en, es"),
        ("result", {"channel": "pigeon"}, InvalidInput, "unknown letter channel 'pigeon'"),
        ("followup_reminder", {}, InvalidInput, "no BI-RADS 3 follow-up exam open"),
        ("prior_film_request", {"facility_id": 999_999}, InvalidInput, "no prior-film request to facility 999999"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_recorded(session, dense_case, kind, options, error, words):
    with pytest.raises(error, match=words):
        produce_letter(session, dense_case.case_id, kind, actor="t", now=NOW, **options)
    assert session.exec(select(Letter)).all() == []


def test_unknown_case_is_not_found(session):
    with pytest.raises(NotFound, match="case 424242 does not exist"):
        produce_letter(session, 424242, "result", actor="t", now=NOW)


def test_missed_letters_need_a_missed_appointment(session, probably_benign_case):
    with pytest.raises(InvalidInput, match="no missed appointment recorded"):
        produce_letter(session, probably_benign_case.case_id, "final_missed_appointment", actor="t", now=NOW)


def test_audit_holds_ids_only(session, dense_case):
    for kind in ("result", "referrer_report", "prior_film_request"):
        produce_letter(session, dense_case.case_id, kind, actor="t", now=NOW)
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "letter.produced")).all()
    assert len(entries) == 3
    for entry in entries:
        detail = str(entry.detail)
        for phi in ("Okafor", "Rosalind", "LTR-D1", "Elm Street", "Ruiz", "1961"):
            assert phi not in detail
        assert set(entry.detail) == {"letter_id", "kind", "language", "channel"}


def test_opening_exam_is_measured_by_the_pathway_rule_when_no_letter_step_exists(session, tmp_path):
    """A case just opened (no assessment read yet) still gets its lay summary, due by the pathway's rule."""
    from tracking.cases.opening import CaseOpening, open_case

    raw = {"mrn": "LTR-OPEN", "given_name": "Ada", "family_name": "Quist", "birth_date": "1970-01-02",
           "laterality": "right", "density": "a", "birads": "0", "occurred_at": T0.isoformat(),
           "contact": {"address": "1 Pier Road"}}  # fmt: skip
    opened = open_case(session, CaseOpening.model_validate(raw), actor="t", now=T0)
    letter, pdf = produce_letter(session, opened.case_id, "result", actor="t", now=T0)
    assert letter.step_id is None
    assert letter.inputs["assessment"]["lay_summary_due"] == "2026-04-01"  # 30 days: BI-RADS 0
    assert NOT_DENSE in pdf_text(pdf, tmp_path)
