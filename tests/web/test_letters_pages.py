"""The letters page: who may see and do what, filters, producing an owed lay summary, one PDF of many
letters, one letter's PDF, marking letters sent (all or none), refusals named in an error summary
with nothing written, and the letters on the case page and its timeline. The app's clock is its
`get_now` dependency, set by the `clock` fixture."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from tests.letters_support import ES_DENSE_KEY, NOT_DENSE, T0, letters_copy, open_letter_case, pdf_text
from tracking.alerts.sweep import sweep_overdue
from tracking.letters.marking import mark_sent
from tracking.letters.service import produce_letter
from tracking.users.roles import Role
from tracking.web.deps import get_now

CLOCK = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock(app):
    app.dependency_overrides[get_now] = lambda: CLOCK
    yield CLOCK
    app.dependency_overrides.pop(get_now, None)


@pytest.fixture
def owed(committed, clock) -> dict[str, int]:
    """Lay summaries owed as of CLOCK: overdue, due today, due soon, due later, and one with no address."""
    specs = {
        "late": dict(density="d", birads_read="4B", language="es"),  # due Mar 10: overdue 2 days, in Spanish
        "today": dict(density="c", birads_read="4C", exam_at=T0 + timedelta(days=2)),  # due Mar 12
        "soon": dict(density="b", birads_read="4A", exam_at=T0 + timedelta(days=6)),  # due Mar 16
        "later": dict(density="a", birads_read="3"),  # due Apr 2
        "homeless": dict(density="c", birads_read="4B", exam_at=T0 + timedelta(days=2), address=None),
    }
    names = {"late": "Okafor", "today": "Lindqvist", "soon": "Brandt", "later": "Varga", "homeless": "Nomad"}
    with Session(committed) as session:
        ids = {key: open_letter_case(session, mrn=f"WEB-{key}", given_name="Test", family_name=names[key],
                                     facility=False, missed=False, **spec).case_id
               for key, spec in specs.items()}  # fmt: skip
        session.commit()
    return ids


def count(engine, table: str, where: str = "true") -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


def letters_of(engine, case_id: int) -> list[tuple]:
    with engine.connect() as connection:
        return list(connection.execute(
            text("SELECT id, kind, language, channel, status FROM letters WHERE case_id = :c ORDER BY id"),
            {"c": case_id}))  # fmt: skip


def summary_links(page: str) -> list[str]:
    box = page.split('id="problems"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="#([^"]+)">', box)


def section(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]


def produce(committed, case_id: int, kind: str = "result", **options) -> int:
    with Session(committed) as session:
        letter, _ = produce_letter(session, case_id, kind, actor="test", now=CLOCK - timedelta(hours=1), **options)
        session.commit()
        return letter.id


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_every_role_reads_the_page_and_only_navigators_get_its_forms(role, browser_for, owed, committed):
    letter_id = produce(committed, owed["later"])
    page = browser_for(role).get("/letters")
    assert page.status_code == 200
    html = page.text
    assert html.count("<h1") == 1 and "<h1>Letters</h1>" in html
    assert 'href="/letters" aria-current="page"' in html
    owed_rows = section(html, "owed")
    for key in ("late", "today", "soon", "homeless"):
        assert f'data-case="{owed[key]}"' in owed_rows
    assert f'data-case="{owed["later"]}"' in owed_rows  # owed, and its lay summary is waiting to be sent
    assert "is produced, not sent" in owed_rows
    navigator = role == "navigator"
    assert ('action="/letters/produce"' in html) == navigator
    assert ('formaction="/letters/sent"' in html) == navigator
    assert ('name="letter"' in html) == navigator
    assert f'href="/letters/{letter_id}.pdf"' in html  # every role may read a letter


def test_the_owed_list_is_the_clis_rule_in_deadline_order_with_lateness(browser_for, owed):
    html = browser_for("navigator").get("/letters").text
    rows = re.findall(r'<tr data-case="(\d+)">', section(html, "owed"))
    assert [int(row) for row in rows] == [owed["late"], owed["today"], owed["homeless"], owed["soon"], owed["later"]]
    owed_rows = unescape(section(html, "owed"))
    assert "OVERDUE 2 days</span> 2026-03-10" in owed_rows and "due today</span> 2026-03-12" in owed_rows
    assert "due in 4 days</span> 2026-03-16" in owed_rows and "due in 21 days</span> 2026-04-02" in owed_rows
    assert "The patient's: Spanish" in owed_rows  # the language the service would choose


@pytest.mark.parametrize(
    ("query", "expected"),
    [("when=overdue", ["late"]), ("when=today", ["today", "homeless"]), ("when=soon", ["soon"]),
     ("kind=result&when=soon", ["soon"]), ("kind=referrer_report", [])],
)  # fmt: skip
def test_filters(browser_for, owed, query, expected):
    html = browser_for("navigator").get(f"/letters?{query}").text
    shown = [int(row) for row in re.findall(r'<tr data-case="(\d+)">', html.split('data-testid="unsent', 1)[0])]
    assert shown == [owed[key] for key in expected]


def test_a_filter_that_is_not_a_choice_is_named_and_ignored(browser_for, owed):
    page = browser_for("navigator").get("/letters?kind=memo&when=yesterday")
    assert page.status_code == 200
    box = page.text.split('data-testid="filter-problems"', 1)[1].split("</div>", 1)[0]
    assert re.findall(r'<a href="#([^"]+)">', box) == ["filter-kind", "filter-when"]
    assert "There is no kind of letter called &#39;memo&#39;" in page.text
    assert len(re.findall(r'<tr data-case="', page.text)) == 5  # showing everything


def test_a_navigator_produces_an_owed_lay_summary_once(browser_for, owed, committed):
    browser = browser_for("navigator")
    answer = browser.post_form("/letters/produce", {"case_id": str(owed["late"]), "kind": "result"})
    assert answer.status_code == 303
    [(letter_id, kind, language, channel, status)] = letters_of(committed, owed["late"])
    assert answer.headers["location"] == f"/letters?saved=produced&letter={letter_id}"
    assert (kind, language, channel, status) == ("result", "es", "print_post", "produced")  # the service's defaults
    page = browser.get(answer.headers["location"]).text
    banner = unescape(page.split('data-testid="saved"', 1)[1].split("</div>", 1)[0])
    assert f"Letter {letter_id} (lay summary, Spanish, print and post) produced for case {owed['late']}" in banner
    assert f'href="/letters/{letter_id}.pdf"' in banner
    assert f"Letter {letter_id} is produced, not sent" in section(page, "owed")
    assert f'id="letter-{letter_id}"' in section(page, "unsent")

    again = browser.post_form("/letters/produce", {"case_id": str(owed["late"]), "kind": "result"})
    assert again.status_code == 422
    assert summary_links(again.text) == [f"p{owed['late']}-channel"]
    assert f"Letter {letter_id} for case {owed['late']} is already produced and not sent" in unescape(again.text)
    assert len(letters_of(committed, owed["late"])) == 1


def test_language_and_channel_may_be_chosen(browser_for, owed, committed, tmp_path):
    browser = browser_for("navigator")
    form = {"case_id": str(owed["today"]), "kind": "result", "language": "es", "channel": "portal"}
    assert browser.post_form("/letters/produce", form).status_code == 303
    [(letter_id, _, language, channel, _)] = letters_of(committed, owed["today"])
    assert (language, channel) == ("es", "portal")
    pdf = browser.get(f"/letters/{letter_id}.pdf")
    assert ES_DENSE_KEY in pdf_text(pdf.content, tmp_path)


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({}, "owed-heading", "Choose a letter to produce from the list of letters owed"),
        ({"case_id": "abc"}, "owed-heading", "Choose a letter to produce"),
        ({"case_id": "99999999999"}, "owed-heading", "Choose a letter to produce"),
        ({"case_id": "{today}", "language": "fr"}, "p{today}-language", "Choose the language from the list"),
        ({"case_id": "{today}", "channel": "pigeon"}, "p{today}-channel", "Choose how the letter is sent"),
        ({"case_id": "{today}", "kind": "memo"}, "p{today}-produce", "Choose a kind of letter"),
        ({"case_id": "424242"}, "p424242-channel", "Case 424242 does not exist"),
        ({"case_id": "{homeless}"}, "p{homeless}-channel", "the patient has no postal address"),
    ],
)  # fmt: skip
def test_bad_input_is_named_in_the_summary_and_nothing_is_written(browser_for, owed, committed, form, field, says):
    filled = {key: value.format(**owed) for key, value in form.items()}
    before = (count(committed, "letters"), count(committed, "case_events"))
    answer = browser_for("navigator").post_form("/letters/produce", filled)
    assert answer.status_code == 422
    assert summary_links(answer.text) == [field.format(**owed)]
    assert says in unescape(answer.text)
    assert "<h1>Letters</h1>" in answer.text and "Error: Letters" in answer.text
    assert (count(committed, "letters"), count(committed, "case_events")) == before
    assert count(committed, "audit_log", "action = 'write.refused'") == 1


def test_a_batch_of_letters_is_one_pdf_and_records_nothing(browser_for, owed, committed, tmp_path):
    first, second = produce(committed, owed["late"]), produce(committed, owed["later"])
    browser = browser_for("navigator")
    answer = browser.post_form("/letters/print", {"letter": [str(second), str(first)]})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert re.fullmatch(r'attachment; filename="letters-20260312-0800\.pdf"', answer.headers["content-disposition"])
    assert answer.headers["x-letter-same-as-recorded"] == "yes"
    words = pdf_text(answer.content, tmp_path)
    assert words.index("Varga") < words.index("Okafor")  # the order asked for
    assert NOT_DENSE in words and ES_DENSE_KEY in words
    again = browser.post_form("/letters/print", {"letter": [str(second), str(first)]})
    assert again.content == answer.content
    assert count(committed, "letters") == 2 and count(committed, "letters", "status = 'sent'") == 0
    assert count(committed, "audit_log", "action = 'letter.reprinted'") == 4


@pytest.mark.parametrize(
    ("letters", "says"),
    [([], "Choose at least one letter"), (["abc"], "&#39;abc&#39; is not a letter number"),
     (["{first}", "999999"], "Letter 999999 does not exist")],
)  # fmt: skip
@pytest.mark.parametrize("action", ["/letters/print", "/letters/sent"])
def test_bad_choices_are_refused_and_change_nothing(browser_for, owed, committed, letters, says, action):
    first = produce(committed, owed["late"])
    chosen = [value.format(first=first) for value in letters]
    before = (count(committed, "letters", "status = 'sent'"), count(committed, "case_events"))
    answer = browser_for("navigator").post_form(action, {"letter": chosen} if chosen else {})
    assert answer.status_code == 422
    assert summary_links(answer.text) == ["unsent-letters"]
    assert says in answer.text
    assert (count(committed, "letters", "status = 'sent'"), count(committed, "case_events")) == before


def test_marking_letters_sent_completes_the_lay_summarys_step(browser_for, owed, committed):
    summary, report = produce(committed, owed["late"]), produce(committed, owed["late"], "referrer_report")
    browser = browser_for("navigator")
    answer = browser.post_form("/letters/sent", {"letter": [str(summary), str(report)]})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/letters?saved=sent&letter={summary}&letter={report}"
    with committed.connect() as connection:
        step = connection.execute(text("SELECT status FROM steps WHERE case_id = :c AND kind = 'result_letter'"),
                                  {"c": owed["late"]}).scalar_one()  # fmt: skip
        event_id, payload = connection.execute(
            text("SELECT id, payload FROM case_events WHERE case_id = :c AND kind = 'result_letter_sent'"),
            {"c": owed["late"]}).one()  # fmt: skip
        recorded = connection.execute(text("SELECT sent_event_id, sent_density, sent_density_statement, sent_by "
                                           "FROM letters WHERE id = :id"), {"id": summary}).one()  # fmt: skip
    assert step == "completed" and payload == {"density_sentence_included": True}
    assert (recorded.sent_event_id, recorded.sent_density, recorded.sent_by) == (event_id, "dense", "u-navigator")
    assert ES_DENSE_KEY in recorded.sent_density_statement  # the Spanish letter's own statement
    page = unescape(browser.get(answer.headers["location"]).text)
    assert "2 letters marked sent" in page
    assert f"the result-letter step is complete (event {event_id})" in page
    assert f"Letter {report} (report to the referring provider, case {owed['late']}) marked sent." in page
    assert 'data-testid="unsent-empty"' in page

    twice = browser.post_form("/letters/sent", {"letter": [str(summary)]})
    assert twice.status_code == 422 and summary_links(twice.text) == ["unsent-letters"]
    assert f"Letter {summary} was already marked sent" in twice.text


def test_marking_sent_is_all_or_nothing(browser_for, owed, committed):
    done, waiting = produce(committed, owed["late"]), produce(committed, owed["later"])
    browser = browser_for("navigator")
    assert browser.post_form("/letters/sent", {"letter": [str(done)]}).status_code == 303
    before = (count(committed, "letters", "status = 'sent'"), count(committed, "case_events"))
    answer = browser.post_form("/letters/sent", {"letter": [str(waiting), str(done)]})
    assert answer.status_code == 422
    assert (count(committed, "letters", "status = 'sent'"), count(committed, "case_events")) == before
    assert re.search(rf'id="letter-{waiting}" checked', answer.text)  # what was ticked stays ticked


@pytest.mark.parametrize("role", [role.value for role in Role if role.value != "navigator"])
def test_other_roles_may_not_produce_print_or_mark_sent(role, browser_for, owed, committed):
    letter_id = produce(committed, owed["late"])
    browser = browser_for(role)
    before = (count(committed, "letters"), count(committed, "letters", "status = 'sent'"))
    assert browser.post_form("/letters/produce", {"case_id": str(owed["today"])}).status_code == 403
    assert browser.post_form("/letters/print", {"letter": [str(letter_id)]}).status_code == 403
    assert browser.post_form("/letters/sent", {"letter": [str(letter_id)]}).status_code == 403
    assert (count(committed, "letters"), count(committed, "letters", "status = 'sent'")) == before


def test_one_letters_pdf_and_bad_addresses(browser_for, owed, committed, tmp_path):
    letter_id = produce(committed, owed["later"])
    browser = browser_for("read_only")
    answer = browser.get(f"/letters/{letter_id}.pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="letter-{letter_id}.pdf"'
    assert answer.headers["cache-control"] == "no-store"
    assert NOT_DENSE in pdf_text(answer.content, tmp_path)
    for address in ("/letters/999999.pdf", "/letters/abc.pdf", "/letters/0.pdf", "/letters/99999999999.pdf"):
        missing = browser.get(address)
        assert missing.status_code == 404, address
        assert "<h1>Not found</h1>" in missing.text
    with committed.connect() as connection:
        actions = connection.execute(
            text("SELECT actor, detail FROM audit_log WHERE action = 'letter.reprinted'")
        ).all()
    assert [(actor, detail["letter_id"], detail["same_as_recorded"]) for actor, detail in actions] == [
        ("u-read-only", letter_id, True)
    ]


def test_a_copy_that_differs_is_said_so_before_it_is_handed_out(browser_for, owed, committed, configure, tmp_path):
    letter_id = produce(committed, owed["later"])
    configure(WORKUP_LETTERS_DIR=letters_copy(tmp_path, ("en/result.html", "</h1>", " (copy)</h1>")))
    browser = browser_for("navigator")
    warned = browser.get(f"/letters/{letter_id}.pdf")
    assert warned.status_code == 200 and warned.headers["content-type"].startswith("text/html")
    assert f"Letter {letter_id} differs from the letter recorded" in warned.text
    anyway = browser.get(f"/letters/{letter_id}.pdf?accept=yes")
    assert anyway.headers["content-type"] == "application/pdf"
    assert anyway.headers["x-letter-same-as-recorded"] == "no"
    batch = browser.post_form("/letters/print", {"letter": [str(letter_id)]})
    assert batch.status_code == 200 and 'data-testid="difference"' in batch.text
    assert 'name="accept_difference" value="yes"' in batch.text
    printed = browser.post_form("/letters/print", {"letter": [str(letter_id)], "accept_difference": "yes"})
    assert printed.headers["content-type"] == "application/pdf" and printed.headers["x-letter-same-as-recorded"] == "no"


def test_the_case_page_lists_its_letters_and_marks_one_sent(browser_for, owed, committed):
    summary = produce(committed, owed["late"])
    browser = browser_for("navigator")
    printed = browser.get(f"/letters/{summary}.pdf")
    assert printed.status_code == 200
    page = browser.get(f"/cases/{owed['late']}").text
    letters = section(page, "case-letters")
    assert f'data-letter="{summary}" data-status="produced"' in letters
    assert f'href="/letters/{summary}.pdf"' in letters and f'id="case-letter-{summary}"' in letters
    timeline = unescape(page.split('data-testid="timeline"', 1)[1].split("</ul>", 1)[0])
    assert "Letter produced: lay summary (to the patient, by print and post)" in timeline
    assert "Letter printed again: lay summary" in timeline and "the same as the letter recorded" in timeline

    answer = browser.post_form("/letters/sent", {"letter": [str(summary)], "next": "case"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{owed['late']}?saved=letter_sent&letter={summary}"
    page = unescape(browser.get(answer.headers["location"]).text)
    banner = page.split('data-testid="saved"', 1)[1].split("</div>", 1)[0]
    assert "marked sent with the dense-tissue statement: the result-letter step is complete" in banner
    timeline = page.split('data-testid="timeline"', 1)[1].split("</ul>", 1)[0]
    assert "Letter sent: lay summary (to the patient, by print and post)" in timeline
    assert "density statement: dense, result-letter step completed" in timeline
    assert "Result report and lay summary sent" in timeline  # the event the marking recorded
    assert f'data-letter="{summary}" data-status="sent"' in page

    again = browser.post_form("/letters/sent", {"letter": [str(summary)], "next": "case"})
    assert again.status_code == 422 and summary_links(again.text) == ["letters-heading"]
    assert "was already marked sent" in unescape(again.text)


def test_an_unsent_letter_alerts_on_the_case_the_worklist_and_the_api(browser_for, api_for, owed, committed):
    letter_id = produce(committed, owed["later"], "referrer_report")
    with Session(committed) as session:
        # The case's workup runs are done, so the letter is the only thing alerting on it.
        session.execute(text("UPDATE case_runs SET status = 'done', finished_at = :at"), {"at": CLOCK})
        sweep_overdue(session, CLOCK + timedelta(days=3))
        session.commit()
        kinds = session.execute(text("SELECT kind FROM alerts WHERE case_id = :c AND status <> 'resolved'"),
                                {"c": owed["later"]}).scalars().all()  # fmt: skip
    assert kinds == ["letter_unsent"]
    browser = browser_for("navigator")
    case_page = unescape(browser.get(f"/cases/{owed['later']}").text)
    alerts = case_page.split('data-testid="alerts"', 1)[1].split("</table>", 1)[0]
    assert f"Letter {letter_id} (report to the referring provider, produced 12 Mar 2026) is past its deadline" in alerts
    assert 'data-alert-kind="letter_unsent"' in alerts
    api = api_for("read_only").get(f"/api/alerts?open=true&case_id={owed['later']}").json()
    assert [(row["kind"], row["case_id"], row["letter_id"]) for row in api if row["kind"] == "letter_unsent"] == [
        ("letter_unsent", owed["later"], letter_id)
    ]
    worklist = browser.get("/worklist?view=all").text
    row = worklist.split(f'<tr data-case="{owed["later"]}">', 1)[1].split("</tr>", 1)[0]
    assert ">level 1</span>" in row and "not acknowledged" in row


CHOICES = st.fixed_dictionaries({
    "kind": st.sampled_from(["result", "referrer_report", "prior_film_request", "followup_reminder", "memo", ""]),
    "language": st.sampled_from(["", "en", "es", "fr", "EN"]) | st.text(max_size=8),
    "channel": st.sampled_from(["", "print_post", "fax", "email", "portal", "pigeon"]),
})  # fmt: skip
USUAL = {"result": "print_post", "referrer_report": "fax"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=CHOICES)
def test_any_combination_produces_exactly_what_was_chosen_or_nothing(browser_for, owed, committed, choices):
    """Kind, language and channel as a navigator may combine them (and as a forged form may): a
    letter recorded with exactly the choices (the usual ones when left blank), or a refusal naming a
    field with nothing written."""
    browser = browser_for("navigator")
    case_id = owed["today"]
    before = letters_of(committed, case_id)
    answer = browser.post_form("/letters/produce", {"case_id": str(case_id), **choices})
    after = letters_of(committed, case_id)
    if answer.status_code == 303:
        [(letter_id, kind, language, channel, status)] = after[len(before) :]
        assert kind == (choices["kind"] or "result") and status == "produced"
        assert language == (choices["language"] or "en")
        assert channel == (choices["channel"] or USUAL[kind])
        with Session(committed) as session:  # sent, so the next example may produce again
            mark_sent(session, letter_id, actor="test", now=CLOCK)
            session.commit()
    else:
        assert answer.status_code == 422, answer.text[:300]
        assert after == before
        assert summary_links(answer.text)[0].startswith(f"p{case_id}-")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["", "result", "referrer_report", "memo"]) | st.text(max_size=12),
       when=st.sampled_from(["", "overdue", "today", "soon", "later"]) | st.text(max_size=12))  # fmt: skip
def test_any_filter_combination_shows_a_page(browser_for, owed, kind, when):
    page = browser_for("read_only").get("/letters", params={"kind": kind, "when": when})
    assert page.status_code == 200 and "<h1>Letters</h1>" in page.text


def test_a_navigator_sends_a_providers_letter_by_fax_from_the_page(browser_for, owed, committed, configure):
    """The letters page sends by the outbox what the API and `workup letter send` send: a fax number
    typed on the row, refusals named at that row with nothing queued, then "queued" on the row."""
    configure(WORKUP_SMTP_STARTTLS="true", WORKUP_SMTP_SSL="false", WORKUP_FAX_GATEWAY="{number}@fax.center.test")
    report, summary = produce(committed, owed["late"], "referrer_report"), produce(committed, owed["later"])
    browser = browser_for("navigator")
    listed = browser.get("/letters").text
    assert f'formaction="/letters/{report}/send"' in listed
    assert f'formaction="/letters/{summary}/send"' not in listed, "a patient's letter is posted, never faxed"

    refused = browser.post_form(f"/letters/{report}/send", {f"to-{report}": "not a number"})
    assert refused.status_code == 422
    assert f'href="#to-{report}"' in refused.text and "is not a valid fax number" in unescape(refused.text)
    assert 'value="not a number"' in refused.text, "what was typed is kept"
    assert count(committed, "notifications") == 0

    sent = browser.post_form(f"/letters/{report}/send", {f"to-{report}": "+1 617 555 0199"})
    assert sent.status_code == 303 and sent.headers["location"] == f"/letters?saved=queued&letter={report}"
    with committed.connect() as connection:
        assert connection.execute(text("SELECT kind, recipient FROM notifications")).all() == [
            ("letter", "16175550199@fax.center.test")
        ]
    after = browser.get(sent.headers["location"]).text
    assert "Letter queued to go" in after and f'data-testid="queued-{report}"' in after
    assert browser_for("radiologist").post_form(f"/letters/{report}/send", {}).status_code == 403
    assert browser.post_form("/letters/987654/send", {}).status_code == 404
