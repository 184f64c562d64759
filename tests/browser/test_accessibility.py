"""Every page, as each role that may open it, in Chromium: axe-core finds no violation, the page
has one h1, it fits a 390 px phone without horizontal scrolling, and the first Tab reaches the
skip link, which moves focus to the main content.

axe-core is injected by axe-playwright-python (its bundled axe.min.js); Chromium is Debian's.
"""

from __future__ import annotations

import json

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import login
from tests.hl7_support import FakeInterpreter, corpus
from tracking.hl7.intake import receive_message
from tracking.hl7.interpretation import Interpretation, MessageOutcome

ROLES = {
    "navigator": ("nav", "navigator-demo"),
    "ops": ("ops", "operations-demo"),
    "admin": ("admin", "administrator-demo"),
    "radiologist": ("rad", "radiologist-demo"),
}
# (role, address); {seed} is the demo's seed case, {new} its newest case.
PAGES = [
    ("navigator", "/worklist"),
    ("navigator", "/worklist?view=all"),
    ("navigator", "/worklist?mine=1&late=overdue"),
    ("navigator", "/worklist?step=nonsense&page=0&facility=abc"),
    ("navigator", "/team"),
    ("navigator", "/cases/{seed}"),
    ("navigator", "/cases/{new}?system=1"),
    ("navigator", "/cases/new"),
    ("navigator", "/facilities"),
    ("navigator", "/screening"),
    ("navigator", "/letters"),
    ("navigator", "/letters?kind=memo&when=overdue"),
    ("navigator", "/cases/abc"),
    ("navigator", "/hl7/inbox"),  # empty here; with waiting items: tests/browser/test_hl7_inbox.py
    ("radiologist", "/cases/{seed}"),
    ("radiologist", "/hl7/inbox"),
    ("ops", "/ops"),
    ("ops", "/worklist"),
    ("ops", "/letters"),
    ("admin", "/audit"),
    ("radiologist", "/reports/outcomes"),
    ("ops", "/reports/outcomes?from=2026-01-01&to=2026-12-31"),
    ("admin", "/reports/outcomes?from=2025-01-01"),
    ("admin", "/facilities"),
    ("navigator", "/hl7/messages"),
    ("ops", "/hl7/messages?outcome=nonsense&from=2026-13-01&page=0"),  # named and ignored, not an error page
    ("admin", "/hl7/messages?outcome=rejected"),
]
PHONE = {"width": 390, "height": 844}


def axe_violations(page) -> list[dict]:
    results = Axe().run(page)
    return [
        {"id": item["id"], "impact": item["impact"], "nodes": [node["target"] for node in item["nodes"]][:5]}
        for item in results.response["violations"]
    ]


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.fixture
def hl7_log(demo, engine):
    """One message of each outcome in the HL7 message log (the seed case's applied), so its page has rows."""
    for name, outcome, case_id in [("oru_r01_lf.hl7", MessageOutcome.applied, demo.case_ids["seed"]),
                                   ("siu_s12_utf8.hl7", MessageOutcome.queued, None),
                                   ("adt_a08_latin1.hl7", MessageOutcome.ignored, None),
                                   ("unknown_charset.hl7", MessageOutcome.rejected, None)]:  # fmt: skip
        fake = FakeInterpreter(Interpretation(outcome, f"{outcome.value} by the test", case_id))
        receive_message(engine, corpus(name), now=demo.loaded_at, interpreter=fake)


@pytest.mark.parametrize(("role", "address"), PAGES, ids=[f"{role}:{address}" for role, address in PAGES])
def test_every_page_is_accessible_and_fits_a_phone(page, demo, hl7_log, role, address):
    login(page, *ROLES[role])
    url = address.format(seed=demo.case_ids["seed"], new=demo.case_ids["new"])
    page.goto(url)
    assert page.locator("h1").count() == 1, f"{url}: one h1 expected"
    violations = axe_violations(page)
    assert violations == [], f"{url}: " + json.dumps(violations, indent=1)
    page.set_viewport_size(PHONE)
    page.goto(url)
    assert horizontal_overflow(page) <= 0, f"{url} scrolls sideways at 390 px by {horizontal_overflow(page)} px"
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to main content", f"{url}: the first Tab reached {focused!r}"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_sign_in_page_is_accessible(page):
    page.goto("/login")
    assert axe_violations(page) == []
    page.set_viewport_size(PHONE)
    page.goto("/login")
    assert horizontal_overflow(page) <= 0


def test_the_navigation_marks_the_current_page(page, demo):
    login(page, *ROLES["navigator"])
    for address, name in [("/worklist", "Worklist"), ("/worklist?mine=1", "My cases"), ("/screening", "Screening recall"),
                          ("/facilities", "Facilities"), ("/team", "Team"), ("/cases/new", "New case"),
                          ("/hl7/messages", "HL7 messages"),
                          ("/letters", "Letters")]:  # fmt: skip
        page.goto(address)
        current = page.locator("nav [aria-current=page]")
        assert current.count() == 1 and current.inner_text() == name, address
    assert page.locator("nav a", has_text="Operations").count() == 0, "navigators get the team summary instead"
