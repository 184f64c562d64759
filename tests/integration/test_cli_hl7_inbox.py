"""`workup hl7 inbox` as a real process: the list (and --json), confirm (as a named user, with
edited data) and dismiss; a refusal is one line on stderr, a documented exit code, nothing saved."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from tests.hl7_rules_support import run, seed_case
from tests.integration.test_cli import WORKUP, one_clear_line
from tracking.cases.models import Case, CaseEvent
from tracking.hl7.inbox_models import HL7InboxItem
from tracking.users.service import create_user


@pytest.fixture
def workup(database_url, committed):
    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:cli-test", **(env or {})}
        return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)

    return call


@pytest.fixture
def queued(committed) -> dict[str, int]:
    """A case, its order, a result with BI-RADS only in the words (queued); and two users."""
    with Session(committed, expire_on_commit=False) as session:
        for name, role in (("kim", "navigator"), ("ray", "radiologist"), ("otto", "ops")):
            create_user(
                session,
                username=name,
                display_name=name.title(),
                role=role,
                password="long-password-1",
                actor="test",
                now=datetime.now(UTC),
            )
        case_id = seed_case(session)
        run(session, "orm_o01_magnification.hl7")
        item_id = run(session, "oru_r01_magnification_text_only.hl7").inbox_item_id
        session.commit()
    return {"case": case_id, "item": item_id}


def test_the_list_shows_open_items_and_json_carries_the_proposal(workup, queued):
    listing = workup("hl7", "inbox")
    assert listing.returncode == 0, listing.stderr
    assert "magnification result" in listing.stdout
    rows = json.loads(workup("hl7", "inbox", "--json").stdout)
    [row] = rows
    assert row["item_id"] == queued["item"] and row["case_id"] == queued["case"]
    assert row["event_kind"] == "magnification_result" and row["payload"]["birads"] == "4B"
    assert row["status"] == "open"


def test_confirm_with_edited_data_records_it_as_the_named_user(workup, queued, committed):
    done = workup("hl7", "inbox", "confirm", str(queued["item"]), "--as", "ray", "--data", '{"birads": "4C"}', "--json")
    assert done.returncode == 0, done.stderr
    decided = json.loads(done.stdout)
    with Session(committed) as session:
        event = session.get(CaseEvent, decided["event_id"])
        assert (event.actor, event.payload["birads"]) == ("ray", "4C")
        assert session.get(Case, queued["case"]).birads == "4C"
    assert json.loads(workup("hl7", "inbox", "--json").stdout) == []
    assert json.loads(workup("hl7", "inbox", "--all", "--json").stdout)[0]["status"] == "confirmed"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--data", "{not json"], 2, "not valid JSON"),
        (["--data", "[1]"], 2, "JSON object"),
        (["--as", "nobody"], 2, "not a workup user"),
        (["--as", "otto"], 2, "only a navigator or radiologist"),
        (["--as", "ray", "--data", '{"birads": "2"}'], 4, "G5"),
        (["--as", "ray", "--occurred-at", "yesterday"], 2, "ISO 8601"),
        ([], 2, "--as"),
    ],
)
def test_a_refused_confirm_is_one_line_and_saves_nothing(workup, queued, committed, args, code, words):
    refused = workup("hl7", "inbox", "confirm", str(queued["item"]), *args, env={"WORKUP_ACTOR": "cli"})
    assert refused.returncode == code, refused.stderr
    assert words in one_clear_line(refused)
    with Session(committed) as session:
        assert session.get(HL7InboxItem, queued["item"]).status == "open"
        assert session.exec(select(CaseEvent).where(CaseEvent.kind == "magnification_result")).all() == []


def test_confirm_of_an_unknown_item_is_not_found(workup, queued):
    assert workup("hl7", "inbox", "confirm", "424242", "--as", "kim").returncode == 3


def test_dismiss_needs_a_reason_then_keeps_it(workup, queued, committed):
    missing = workup("hl7", "inbox", "dismiss", str(queued["item"]), "--as", "kim")
    assert missing.returncode == 2 and "--reason" in missing.stderr
    blank = workup("hl7", "inbox", "dismiss", str(queued["item"]), "--as", "kim", "--reason", " ")
    assert blank.returncode == 2 and "needs a reason" in one_clear_line(blank)
    done = workup("hl7", "inbox", "dismiss", str(queued["item"]), "--as", "kim", "--reason", "Read by phone")
    assert done.returncode == 0, done.stderr
    with Session(committed) as session:
        item = session.get(HL7InboxItem, queued["item"])
        assert (item.status, item.dismiss_reason, item.decided_by) == ("dismissed", "Read by phone", "kim")


def test_workup_actor_names_the_confirming_user(workup, queued, committed):
    done = workup("hl7", "inbox", "confirm", str(queued["item"]), env={"WORKUP_ACTOR": "kim"})
    assert done.returncode == 0, done.stderr
    with Session(committed) as session:
        assert session.get(HL7InboxItem, queued["item"]).decided_by == "kim"
