"""The facility directory page: every role reads it, navigators and admins add and edit, bad input is named."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tracking.cases.models import OutsideFacility
from tracking.facilities.directory import FacilityEntry, add_facility
from tracking.users.roles import Role

KEEPERS = ("navigator", "admin")


def rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT id, name, channel, contact, phone FROM outside_facilities ORDER BY id")
        ).all()


def summary_links(html: str) -> list[str]:
    block = re.search(r'<div class="problem" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert block, "no error summary"
    return re.findall(r'<a href="#([^"]+)">', block.group(1))


@pytest.fixture
def facility(committed) -> int:
    with Session(committed) as session:
        added = add_facility(session, FacilityEntry(name="Harbor Imaging", channel="fax", contact="+1 617 555 0100",
                                                    phone="617 555 0101"), actor="test", now=datetime.now(UTC))  # fmt: skip
        session.commit()
        return added.id


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_every_role_reads_the_directory_and_only_keepers_see_the_forms(role, browser_for, facility):
    page = browser_for(role).get("/facilities")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Facility directory</h1>" in html and 'href="/facilities" aria-current="page"' in html
    assert "Harbor Imaging" in html and '<td data-label="How requests are sent">Fax</td>' in html
    assert '<a href="tel:+16175550101">+16175550101</a>' in html
    keeper = role in KEEPERS
    assert ('action="/facilities"' in html) == keeper
    assert (f'action="/facilities/{facility}"' in html) == keeper


@pytest.mark.parametrize("role", [role.value for role in Role if role.value not in KEEPERS])
def test_other_roles_may_not_change_it(role, browser_for, facility, committed):
    before = rows(committed)
    browser = browser_for(role)
    assert browser.post_form("/facilities", {"add-name": "X", "add-channel": "email",
                                             "add-contact": "x@x.test"}).status_code == 403  # fmt: skip
    assert browser.post_form(f"/facilities/{facility}", {f"f{facility}-name": "Y"}).status_code == 403
    assert rows(committed) == before


@pytest.mark.parametrize("role", KEEPERS)
def test_a_keeper_adds_a_facility_and_sees_the_banner(role, browser_for, committed):
    browser = browser_for(role)
    response = browser.post_form("/facilities", {"add-name": "  Lakeview   Health ", "add-channel": "email",
                                                 "add-contact": "Films@Lakeview.test", "add-phone": ""})  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/facilities?saved=added"
    assert [row[1:] for row in rows(committed)] == [("Lakeview Health", "email", "Films@lakeview.test", None)]
    page = browser.get("/facilities?saved=added").text
    assert 'role="status"' in page and "data-focus" in page and "Facility added to the directory." in page


def test_a_navigator_edits_a_facility(browser_for, facility, committed):
    browser = browser_for("navigator")
    prefix = f"f{facility}"
    form = {f"{prefix}-name": "Harbor Imaging Centre", f"{prefix}-channel": "email",
            f"{prefix}-contact": "films@harbor.test", f"{prefix}-phone": "+1 617 555 0102"}  # fmt: skip
    response = browser.post_form(f"/facilities/{facility}", form)
    assert response.status_code == 303 and response.headers["location"] == "/facilities?saved=changed"
    assert rows(committed) == [(facility, "Harbor Imaging Centre", "email", "films@harbor.test", "+16175550102")]
    again = browser.post_form(f"/facilities/{facility}", form)
    assert again.headers["location"] == "/facilities?saved=unchanged"
    with committed.connect() as connection:
        detail = connection.execute(text("SELECT detail FROM audit_log WHERE action = 'facility.changed'")).scalar_one()
    assert detail["facility_id"] == facility and sorted(detail["fields"]) == ["channel", "contact", "name", "phone"]


def test_a_duplicate_name_is_refused_on_the_name(browser_for, facility, committed):
    browser = browser_for("navigator")
    before = rows(committed)
    response = browser.post_form("/facilities", {"add-name": "harbor  IMAGING", "add-channel": "email",
                                                 "add-contact": "x@harbor.test"})  # fmt: skip
    assert response.status_code == 422
    assert summary_links(response.text) == ["add-name"]
    page = unescape(response.text)
    assert "already has a facility named 'Harbor Imaging'" in page and 'id="add-name-error"' in page
    assert 'value="harbor  IMAGING"' in page  # what was typed is kept
    with Session(committed) as session:
        other = add_facility(session, FacilityEntry(name="Other Place", channel="post", contact="1 Main St, Boston"),
                             actor="test", now=datetime.now(UTC))  # fmt: skip
        session.commit()
        other_id = other.id
    renamed = browser.post_form(f"/facilities/{other_id}", {f"f{other_id}-name": "Harbor Imaging",
                                f"f{other_id}-channel": "post", f"f{other_id}-contact": "1 Main St, Boston"})  # fmt: skip
    assert renamed.status_code == 422 and summary_links(renamed.text) == [f"f{other_id}-name"]
    assert re.search(
        r'<details class="facility-edit" open>\s*<summary>Edit<span class="sr-only"> Other Place', renamed.text
    )
    assert len(rows(committed)) == len(before) + 1


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"add-name": "A", "add-channel": "email", "add-contact": "not-an-email"}, "add-contact", "not a valid email"),
        ({"add-name": "A", "add-channel": "fax", "add-contact": "12"}, "add-contact", "fax"),
        ({"add-name": "A", "add-channel": "webhook", "add-contact": "ftp://x"}, "add-contact", "webhook"),
        (
            {"add-name": "A", "add-channel": "email", "add-contact": "a@b.test", "add-phone": "call"},
            "add-phone",
            "phone",
        ),
        ({"add-name": "", "add-channel": "email", "add-contact": "a@b.test"}, "add-name", "Enter the facility name"),
        ({"add-name": "A\x00", "add-channel": "email", "add-contact": "a@b.test"}, "add-name", "control characters"),
        ({"add-name": "A", "add-channel": "pigeon", "add-contact": "a@b.test"}, "add-channel", "Choose the way"),
        ({"add-name": "A", "add-channel": "", "add-contact": "a@b.test"}, "add-channel", "Choose the way"),
        ({"add-name": "A" * 201, "add-channel": "email", "add-contact": "a@b.test"}, "add-name", "200 characters"),
    ],
)
def test_bad_input_is_named_on_its_field_and_nothing_is_written(form, field, words, browser_for, committed):
    response = browser_for("admin").post_form("/facilities", form)
    assert response.status_code == 422
    assert field in summary_links(response.text)
    assert f'id="{field}-error"' in response.text and 'aria-invalid="true"' in response.text
    assert words.lower() in unescape(response.text).lower()
    assert rows(committed) == []


def test_an_unknown_facility_is_a_404_page(browser_for):
    browser = browser_for("navigator")
    response = browser.post_form("/facilities/999999", {"f999999-name": "X", "f999999-channel": "email",
                                                        "f999999-contact": "x@x.test"})  # fmt: skip
    assert response.status_code == 404 and "<h1>Not found</h1>" in response.text
    assert browser.post_form("/facilities/99999999999", {}).status_code == 404  # no such address
    assert browser.get("/facilities/1").status_code in (404, 405)


def test_facilities_opened_with_a_case_are_listed(browser_for, committed):
    from tests.factories import seed_opening
    from tracking.cases.opening import open_case

    with Session(committed) as session:
        open_case(session, seed_opening(), actor="test", now=datetime.now(UTC))
        session.commit()
        names = session.exec(select(OutsideFacility.name)).all()
    html = browser_for("read_only").get("/facilities").text
    assert all(name in html for name in names) and len(names) == 2
