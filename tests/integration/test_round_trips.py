"""Round trips to PostgreSQL per recorded event (issue 14): at most 6, whatever the event.

Every statement the session sends while `record_event` runs (and flushing what it leaves pending,
as the caller's commit would) is counted by a `before_cursor_execute` listener on the engine,
SAVEPOINTs included: a booking, a missed appointment, results that complete a step and create the
next ones (a biopsy, a 6-month follow-up, a clinical follow-up, a result letter), film requests
answered, a closure, on both pathways, with and without an idempotency key, with navigators
configured (so the letter and warning notices are queued too).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import event, select, text

from tests.factories import PROBABLY_BENIGN_MAG, SUSPICIOUS_MAG, seed_opening
from tracking.cases.models import Case, Step
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event

MOST = 6


class Statements:
    """Counts what is sent on the engine while it is in a `with` block; `sent` lists them in order."""

    def __init__(self, engine):
        self.engine = engine
        self.sent: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.sent.append(" ".join(statement.split())[:80])

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self)


def counted(session, engine, case_id, kind, data, *, at, key=None) -> tuple[int, list[str]]:
    with Statements(engine) as statements:
        record_event(session, case_id, kind, data, actor="nav:test", now=at, idempotency_key=key)
        session.flush()
    return len(statements.sent), statements.sent


def test_every_event_takes_at_most_six_round_trips(session, engine, now, configure):
    configure(WORKUP_NAVIGATOR_EMAIL="nav@center.test", WORKUP_ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts")
    calcifications = open_case(session, seed_opening(mrn="TRIPS-1"), actor="nav:test", now=now).case_id
    benign = open_case(session, seed_opening(mrn="TRIPS-2", facilities=[]), actor="nav:test", now=now).case_id
    mass = open_case(
        session, seed_opening(mrn="TRIPS-3", finding_type="mass", density="b", palpable=True), actor="nav:test",
        now=now,
    ).case_id  # fmt: skip
    day = timedelta(days=1)
    facilities = sorted(
        session.execute(select(Step.facility_id).where(Step.case_id == calcifications, Step.facility_id.is_not(None)))
        .scalars()
        .all()
    )
    events = [
        ("booking", calcifications, "appointment_booked",
         {"step": "magnification_views", "scheduled_for": (now + 3 * day).isoformat()}, now + day / 2, None),
        ("no-show", calcifications, "appointment_missed", {"step": "magnification_views"}, now + 3 * day, None),
        ("rebooking (keyed)", calcifications, "appointment_booked",
         {"step": "magnification_views", "scheduled_for": (now + 6 * day).isoformat()}, now + 4 * day, "trips-1"),
        ("result creating a biopsy and a letter", calcifications, "magnification_result", SUSPICIOUS_MAG,
         now + 6 * day, None),
        ("film request answered", calcifications, "prior_films_received",
         {"facility_id": facilities[0], "comparison": "new"}, now + 7 * day, None),
        ("film request unobtainable (keyed)", calcifications, "prior_films_unobtainable",
         {"facility_id": facilities[1], "reason": "records destroyed"}, now + 7 * day, "trips-2"),
        ("result creating a 6-month follow-up (keyed)", benign, "magnification_result", PROBABLY_BENIGN_MAG,
         now + 2 * day, "trips-3"),
        ("letter sent", benign, "result_letter_sent", {"density_sentence_included": True}, now + 3 * day, None),
        ("mammogram read", mass, "diagnostic_mammogram_result",
         {"birads": "1", "seen_on_mammography": False, "technique": "spot_compression"}, now + day, None),
        ("ultrasound creating a clinical follow-up", mass, "ultrasound_result",
         {"ultrasound_finding": "no_correlate", "birads": "1"}, now + 2 * day, None),
    ]  # fmt: skip
    trips: Counter[str] = Counter()
    for what, case_id, kind, data, at, key in events:
        sent, statements = counted(session, engine, case_id, kind, data, at=at, key=key)
        trips[what] = sent
        assert sent <= MOST, f"{what}: {sent} round trips:\n" + "\n".join(statements)
    # the counter sees what it should: a keyed event takes its advisory lock and looks its key up
    assert trips["rebooking (keyed)"] >= trips["booking"] + 2, dict(trips)
    # and everything was written: events, audit rows, run requests, film requests, notices
    cases = [calcifications, benign, mass]
    written = session.execute(
        text(
            "SELECT (SELECT count(*) FROM case_events WHERE case_id = ANY(:ids)), "
            "(SELECT count(*) FROM audit_log WHERE action = 'event.recorded' AND case_id = ANY(:ids)), "
            "(SELECT count(*) FROM case_runs WHERE case_id = ANY(:ids)), "
            "(SELECT array_agg(status ORDER BY status) FROM prior_film_requests WHERE case_id = :calcifications), "
            "(SELECT count(*) FROM notifications n JOIN steps s ON s.id = n.step_id "
            " WHERE n.kind = 'result_letter_due' AND s.case_id = :calcifications)"
        ),
        {"ids": cases, "calcifications": calcifications},
    ).one()
    assert tuple(written) == (3 + len(events), len(events), 3 + len(events), ["received", "unobtainable"], 2)
    assert [session.get(Case, case_id).version for case_id in cases] == [7, 3, 3]
    print(dict(trips))


def test_a_case_from_before_pathway_hashes_takes_its_hash_in_one_more_round_trip(session, engine, now):
    """The first event on such a case registers its pathway version (one statement) and the hash
    is written with the event, not by a second UPDATE."""
    case_id = open_case(session, seed_opening(mrn="TRIPS-4"), actor="nav:test", now=now).case_id
    session.execute(text("UPDATE cases SET pathway_hash = NULL WHERE id = :id"), {"id": case_id})
    session.expire_all()
    sent, statements = counted(
        session, engine, case_id, "magnification_result", SUSPICIOUS_MAG, at=now + timedelta(days=1)
    )
    assert sent == 4, "\n".join(statements)
    kept = session.execute(text("SELECT pathway_hash FROM cases WHERE id = :id"), {"id": case_id}).scalar()
    assert kept is not None and kept == session.get(Case, case_id).pathway_hash
