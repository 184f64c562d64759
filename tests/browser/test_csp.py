"""Every page works in Chromium under the Content-Security-Policy, and the policy really bites.

The `page` fixture fails any test whose pages log a CSP violation; these tests walk every page
(with its htmx swaps and the server-drawn SVG charts) and then show that an injected inline
script or event handler is refused, and that the console check would notice.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, Demo, is_csp_violation, login

WAIT = 10_000


def test_every_page_and_htmx_swap_works_under_the_policy(page: Page, demo: Demo):
    seed = demo.case_ids["seed"]
    login(page, "admin", "administrator-demo")
    expect(page.get_by_test_id("worklist")).to_be_visible(timeout=WAIT)
    assert page.evaluate("typeof htmx") == "object"  # the vendored htmx loaded from /static under script-src 'self'
    assert page.evaluate("htmx.config.allowEval") is False  # its meta config was read
    page.goto(f"/cases/{seed}")
    expect(page.get_by_test_id("steps")).to_be_visible(timeout=WAIT)
    page.goto("/ops")
    expect(page.locator("svg.chart").first).to_be_visible(timeout=WAIT)
    box = page.locator("svg.chart").first.bounding_box()
    assert box and 0 < box["width"] <= 720 + 1  # the chart's style attribute (max-width) still applies
    page.goto("/audit")
    expect(page.locator("table")).to_be_visible(timeout=WAIT)
    page.goto("/login")


def test_a_navigator_swaps_the_event_form_under_the_policy(page: Page, demo: Demo):
    seed = demo.case_ids["seed"]
    login(page, "nav", "navigator-demo")
    page.goto(f"/cases/{seed}")
    page.get_by_test_id("event-kind").select_option(label="Magnification views read")
    page.get_by_role("button", name="Show the form").click()
    expect(page.get_by_test_id("event-form")).to_contain_text("Magnification views read", timeout=WAIT)


def test_injected_script_is_refused_and_reported(browser, server: str, demo: Demo):
    assert CHROMIUM.exists()
    context = browser.new_context(base_url=server)
    try:
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text))
        login(page, "nav", "navigator-demo")
        page.evaluate("""() => {
            const script = document.createElement('script');
            script.textContent = 'window.__inlineRan = true';
            document.body.appendChild(script);
            document.body.insertAdjacentHTML('beforeend', '<img src="/static/app.css" onerror="window.__handlerRan = true">');
        }""")
        page.wait_for_timeout(500)
        assert page.evaluate("window.__inlineRan === undefined && window.__handlerRan === undefined")
        assert any(is_csp_violation(text) for text in messages), messages
    finally:
        context.close()
