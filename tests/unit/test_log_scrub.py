"""tracking/logs.py: what a failed statement would have put in a log, with the values hidden."""

from __future__ import annotations

import io
import logging

import pytest

from tracking.logs import PhiFilter, install, scrub

ERROR = """(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "patients_mrn_key"
DETAIL:  Key (mrn)=(MRN-4711) already exists.
[SQL: INSERT INTO patients (mrn, given_name) VALUES (%(mrn)s, %(given_name)s) RETURNING patients.id]
[parameters: {'mrn': 'MRN-4711', 'given_name': 'Ada'}]
(Background on this error at: https://sqlalche.me/e/20/gkpj)"""


@pytest.mark.parametrize(
    ("raw", "kept", "hidden"),
    [
        (ERROR, ['violates unique constraint "patients_mrn_key"', "Key (mrn)=(<hidden>)", "[SQL: INSERT INTO patients"],
         ["MRN-4711", "Ada"]),
        ("DETAIL:  Failing row contains (8, MRN-4711, Ada, Example, 1968-04-12).", ["Failing row contains (<hidden>)"],
         ["MRN-4711", "Ada", "1968-04-12"]),
        ("DETAIL:  Key (lower(username::text))=(ada) conflicts with existing key (lower(username::text))=(ada2).",
         ["Key (lower(username::text))=(<hidden>)"], ["ada)", "ada2"]),
        ('invalid input syntax for type date: "Ada Example"', ["invalid input syntax for type date: <hidden>"],
         ["Ada Example"]),
        ('DETAIL:  Token "Ada" is invalid.', ["DETAIL:  <hidden>"], ["Ada"]),
        ("INFO [generated in 0.0001s] {'mrn': 'MRN-4711'}", ["[generated in 0.0001s] <hidden>"], ["MRN-4711"]),
        ("IntegrityError('(psycopg.errors.CheckViolation) x\\nDETAIL:  Failing row contains (MRN-4711, Ada).')",
         ["CheckViolation"], ["MRN-4711", "Ada"]),
    ],
)  # fmt: skip
def test_scrub_keeps_the_diagnosis_and_hides_the_values(raw, kept, hidden):
    clean = scrub(raw)
    for text in kept:
        assert text in clean
    for text in hidden:
        assert text not in clean


def test_plain_messages_are_untouched():
    for text in ("sweep: {'raised': 3}", "GET /worklist 200", "", "notification 5 (prior_film_request, case 3)"):
        assert scrub(text) == text


def test_records_and_their_tracebacks_are_scrubbed_and_access_log_args_kept():
    install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PhiFilter())
    logger = logging.getLogger("tests.log_scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(ERROR)
        except RuntimeError:
            logger.exception("request failed: %s", "[parameters: {'mrn': 'MRN-4711'}]")
        record = logging.getLogger("tests.other").makeRecord("x", logging.INFO, __file__, 1, '%s - "%s %s"',
                                                             ("127.0.0.1", "GET", "/worklist"), None)  # fmt: skip
        # nothing to hide: the args stay (uvicorn's access formatter reads them)
        assert record.args == ("127.0.0.1", "GET", "/worklist")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "Traceback" in output and "RuntimeError" in output and "patients_mrn_key" in output
    assert "MRN-4711" not in output and "Ada" not in output


def test_a_flow_body_that_fails_with_values_is_raised_again_scrubbed_with_its_cause():
    import httpx

    from tracking.logs import ScrubbedError, phi_safe
    from tracking.outages import is_outage

    leak = 'duplicate key value violates unique constraint "uq_patients_mrn"\nDETAIL:  Key (mrn)=(PHI-MRN-77) exists.'

    @phi_safe
    def body():
        raise ValueError(leak)

    try:
        body()
    except ScrubbedError as error:
        assert "PHI-MRN-77" not in str(error) and "uq_patients_mrn" in str(error)
        assert isinstance(error.__cause__, ValueError)
    else:
        raise AssertionError("the failure was swallowed")

    @phi_safe
    def away():
        raise httpx.ConnectError("All connection attempts failed")

    try:
        away()
    except httpx.ConnectError as error:  # nothing to scrub: raised as it was, still an outage
        assert is_outage(error)
    else:
        raise AssertionError("the failure was swallowed")


def test_an_outage_wrapped_for_scrubbing_is_still_an_outage():
    import psycopg

    from tracking.logs import ScrubbedError, phi_safe
    from tracking.outages import is_outage

    @phi_safe
    def body():
        raise psycopg.OperationalError('connection failed\nDETAIL:  Failing row contains (PHI-MRN-78, "Maren")')

    try:
        body()
    except ScrubbedError as error:
        assert "PHI-MRN-78" not in str(error)
        assert is_outage(error)
