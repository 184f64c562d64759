"""The real `workup` fed bad input: every refusal is one line `error: ...` and a documented exit code (2-7).

A table of bad invocations (huge and negative ids, NUL and control characters, out-of-range numbers,
impossible dates, NaN and Infinity in event data, over-long keys and texts, unreadable files, a
database that is not there), each run as a real process against the test database. A traceback,
a second line, or an exit code outside 2-7 fails. Nothing a refused command sends is written.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from tests.factories import seed_opening
from tests.hl7_support import CORPUS
from tests.integration.test_cli import WORKUP, count
from tracking.alerts.models import Alert
from tracking.cases.models import Step
from tracking.cases.opening import open_case

HUGE = "99999999999"  # past int4 (2**31 - 1)
MAG = {"birads": "4B", "morphology": "fine_pleomorphic", "distribution": "grouped"}
CASE_FLAGS = ["--mrn", "BAD-1", "--given-name", "Ada", "--family-name", "Example", "--birth-date", "1968-04-12",
              "--laterality", "left", "--density", "c"]  # fmt: skip
NO_DATABASE = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"}


def flags(**changes: str) -> list[str]:
    result = list(CASE_FLAGS)
    for name, value in changes.items():
        option = "--" + name.replace("_", "-")
        result[result.index(option) + 1] = value
    return result


def data(**fields) -> str:
    return json.dumps({**MAG, **fields}, allow_nan=True)


# (id, args, env) -- `{case}` is the seeded case, `{alert}` an alert on it, `{dir}` a scratch directory.
BAD: list[tuple[str, list[str], dict[str, str]]] = [
    (
        "worker claimers beyond its connections",
        ["worker"],
        {"WORKUP_CASE_RUNS_AT_ONCE": "16", "WORKUP_DB_POOL_SIZE": "5"},
    ),
    ("show huge id", ["case", "show", HUGE], {}),
    ("show zero id", ["case", "show", "0"], {}),
    ("show negative id", ["case", "show", "-1"], {}),
    ("show word id", ["case", "show", "abc"], {}),
    ("show unknown id", ["case", "show", "424242"], {}),
    ("alerts huge case", ["alerts", "--case", HUGE], {}),
    ("alerts zero case", ["alerts", "--case", "0"], {}),
    ("overdue huge older-than", ["overdue", "--older-than", HUGE], {}),
    ("overdue negative older-than", ["overdue", "--older-than", "-5"], {}),
    ("overdue word older-than", ["overdue", "--older-than", "week"], {}),
    ("overdue long step", ["overdue", "--step", "x" * 300], {}),
    ("overdue control step", ["overdue", "--step", "biopsy\x07"], {}),
    ("overdue overflowing now", ["overdue", "--now", "9999-12-31T23:59:59-14:00"], {}),
    ("overdue future now", ["overdue", "--now", "2999-01-01T00:00:00Z"], {}),
    ("worklist huge days", ["worklist", "--days", HUGE], {}),
    ("screening negative due-within", ["screening", "--due-within", "-1"], {}),
    ("screening word due-within", ["screening", "--due-within", "abc"], {}),
    ("screening huge due-within", ["screening", "--due-within", HUGE], {}),
    ("screening overdue and due-within", ["screening", "--overdue", "--due-within", "7"], {}),
    ("screening future now", ["screening", "--now", "2999-01-01T00:00:00Z"], {}),
    ("worklist bad now", ["worklist", "--now", "tomorrow"], {}),
    ("report outcomes bad from", ["report", "outcomes", "--from", "2026-02-30"], {}),
    ("report outcomes to before from", ["report", "outcomes", "--from", "2026-04-01", "--to", "2026-03-31"], {}),
    ("report outcomes far past", ["report", "outcomes", "--from", "0001-01-01"], {}),
    ("report outcomes csv into a folder", ["report", "outcomes", "--csv", "{dir}"], {}),
    ("report outcomes csv nowhere", ["report", "outcomes", "--csv", "{dir}/no-such-folder/x.csv"], {}),
    ("report unknown", ["report", "nothing"], {}),
    ("sweep far future now", ["sweep", "--now", "9999-01-01T00:00:00Z"], {}),
    ("sweep overflowing now", ["sweep", "--now", "9999-12-31T23:59:59-14:00", "--allow-future"], {}),
    ("record huge case", ["event", "record", HUGE, "ultrasound_result", "--data", '{"findings": "x"}'], {}),
    ("record zero case", ["event", "record", "0", "ultrasound_result", "--data", '{"findings": "x"}'], {}),
    ("record unknown kind", ["event", "record", "{case}", "no_such_event", "--data", "{}"], {}),
    ("record long kind", ["event", "record", "{case}", "k" * 500, "--data", "{}"], {}),
    (
        "record NUL in text",
        ["event", "record", "{case}", "ultrasound_result", "--data", '{"findings": "a\\u0000b"}'],
        {},
    ),
    (
        "record control in text",
        ["event", "record", "{case}", "ultrasound_result", "--data", '{"findings": "a\\u001bb"}'],
        {},
    ),
    (
        "record huge text",
        ["event", "record", "{case}", "ultrasound_result", "--data", json.dumps({"findings": "x" * 100_000})],
        {},
    ),
    (
        "record NaN extent",
        ["event", "record", "{case}", "magnification_result", "--data", data(extent_mm=float("nan"))],
        {},
    ),
    (
        "record Infinity extent",
        ["event", "record", "{case}", "magnification_result", "--data", data(extent_mm=float("inf"))],
        {},
    ),
    (
        "record -Infinity extent",
        ["event", "record", "{case}", "magnification_result", "--data", data(extent_mm=float("-inf"))],
        {},
    ),
    (
        "record 1e999 extent",
        [
            "event",
            "record",
            "{case}",
            "magnification_result",
            "--data",
            data(extent_mm=1).replace('"extent_mm": 1', '"extent_mm": 1e999'),
        ],
        {},
    ),
    ("record negative extent", ["event", "record", "{case}", "magnification_result", "--data", data(extent_mm=-3)], {}),
    (
        "record string extent",
        ["event", "record", "{case}", "magnification_result", "--data", data(extent_mm="big")],
        {},
    ),
    (
        "record huge facility id",
        [
            "event",
            "record",
            "{case}",
            "prior_films_unobtainable",
            "--data",
            json.dumps({"facility_id": 10**30, "reason": "gone"}),
        ],
        {},
    ),
    (
        "record 1 MB reason",
        [
            "event",
            "record",
            "{case}",
            "prior_films_unobtainable",
            "--file",
            "{dir}/big-reason.json",
        ],
        {},
    ),
    (
        "record overflowing occurred-at",
        [
            "event",
            "record",
            "{case}",
            "magnification_result",
            "--data",
            data(),
            "--occurred-at",
            "9999-12-31T23:59:59-14:00",
        ],
        {},
    ),
    (
        "record ancient occurred-at",
        [
            "event",
            "record",
            "{case}",
            "magnification_result",
            "--data",
            data(),
            "--occurred-at",
            "1800-01-01T00:00:00Z",
        ],
        {},
    ),
    (
        "record future occurred-at",
        [
            "event",
            "record",
            "{case}",
            "magnification_result",
            "--data",
            data(),
            "--occurred-at",
            "2999-01-01T00:00:00Z",
        ],
        {},
    ),
    (
        "record occurred-at before opening",
        [
            "event",
            "record",
            "{case}",
            "magnification_result",
            "--data",
            data(),
            "--occurred-at",
            "2001-01-01T00:00:00Z",
        ],
        {},
    ),
    (
        "record naive occurred-at",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--occurred-at", "2020-01-01"],
        {},
    ),
    (
        "record word occurred-at",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--occurred-at", "soon"],
        {},
    ),
    (
        "record zero expected version",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--expected-version", "0"],
        {},
    ),
    (
        "record huge expected version",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--expected-version", HUGE],
        {},
    ),
    (
        "record stale expected version",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--expected-version", "7"],
        {},
    ),
    (
        "record 300-char key",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--idempotency-key", "k" * 300],
        {},
    ),
    (
        "record blank key",
        ["event", "record", "{case}", "magnification_result", "--data", data(), "--idempotency-key", "   "],
        {},
    ),
    ("record list data", ["event", "record", "{case}", "ultrasound_result", "--data", "[1, 2]"], {}),
    ("record string data", ["event", "record", "{case}", "ultrasound_result", "--data", '"x"'], {}),
    ("record broken json", ["event", "record", "{case}", "ultrasound_result", "--data", "{"], {}),
    ("record deep json", ["event", "record", "{case}", "ultrasound_result", "--data", "[" * 100_000], {}),
    ("record missing file", ["event", "record", "{case}", "ultrasound_result", "--file", "/nonexistent/e.json"], {}),
    ("record directory file", ["event", "record", "{case}", "ultrasound_result", "--file", "{dir}"], {}),
    ("record binary file", ["event", "record", "{case}", "ultrasound_result", "--file", "{dir}/binary.json"], {}),
    ("open 300-char key", ["case", "open", *CASE_FLAGS, "--idempotency-key", "k" * 300], {}),
    ("open ancient birth date", ["case", "open", *flags(birth_date="0001-01-01")], {}),
    ("open 1899 birth date", ["case", "open", *flags(birth_date="1899-12-31")], {}),
    ("open future birth date", ["case", "open", *flags(birth_date="2999-01-01")], {}),
    ("open impossible birth date", ["case", "open", *flags(birth_date="1968-02-30")], {}),
    ("open laterality", ["case", "open", *flags(laterality="up")], {}),
    ("open density", ["case", "open", *flags(density="z")], {}),
    ("open long mrn", ["case", "open", *flags(mrn="m" * 100)], {}),
    ("open bell in name", ["case", "open", *flags(given_name="Ada\x07")], {}),
    ("open newline in name", ["case", "open", *flags(family_name="Exa\nmple")], {}),
    ("open long name", ["case", "open", *flags(family_name="E" * 300)], {}),
    ("open long birads", ["case", "open", *CASE_FLAGS, "--birads", "4BX"], {}),
    ("open unknown facility", ["case", "open", *CASE_FLAGS, "--facility", "Nowhere Imaging"], {}),
    ("open bad facility spec", ["case", "open", *CASE_FLAGS, "--facility", "X=email"], {}),
    ("open bad facility channel", ["case", "open", *CASE_FLAGS, "--facility", "X=pigeon:coop 4"], {}),
    ("open bad facility email", ["case", "open", *CASE_FLAGS, "--facility", "X=email:not an address"], {}),
    ("open NUL name in file", ["case", "open", "--file", "{dir}/nul-name.json"], {}),
    ("open extra field in file", ["case", "open", "--file", "{dir}/extra.json"], {}),
    ("open list file", ["case", "open", "--file", "{dir}/list.json"], {}),
    ("open naive occurred-at", ["case", "open", *CASE_FLAGS, "--occurred-at", "2026-01-01T09:00:00"], {}),
    ("open future occurred-at", ["case", "open", *CASE_FLAGS, "--occurred-at", "2999-01-01T00:00:00Z"], {}),
    ("open ancient occurred-at", ["case", "open", *CASE_FLAGS, "--occurred-at", "1800-01-01T00:00:00Z"], {}),
    ("open too old occurred-at", ["case", "open", *CASE_FLAGS, "--occurred-at", "2001-01-01T00:00:00Z"], {}),
    ("open overflowing occurred-at", ["case", "open", *CASE_FLAGS, "--occurred-at", "9999-12-31T23:59:59-14:00"], {}),
    ("reminders far future now", ["reminders", "--now", "9999-01-01T00:00:00Z"], {}),
    ("reminders bad now", ["reminders", "--now", "tomorrow"], {}),
    ("reminders overflowing now", ["reminders", "--now", "9999-12-31T23:59:59-14:00", "--allow-future"], {}),
    ("ack huge alert", ["alert", "ack", HUGE, "--reason", "booked"], {}),
    ("ack unknown alert", ["alert", "ack", "424242", "--reason", "booked"], {}),
    ("ack 1 MB reason", ["alert", "ack", "{alert}", "--reason", "r" * 100_000], {}),
    ("ack control reason", ["alert", "ack", "{alert}", "--reason", "booked\x1b[31m"], {}),
    ("ack zero snooze", ["alert", "ack", "{alert}", "--reason", "booked", "--snooze-days", "0"], {}),
    ("ack huge snooze", ["alert", "ack", "{alert}", "--reason", "booked", "--snooze-days", HUGE], {}),
    ("hl7 inbox zero limit", ["hl7", "inbox", "--limit", "0"], {}),
    ("hl7 confirm huge item", ["hl7", "inbox", "confirm", HUGE, "--as", "nobody"], {}),
    ("hl7 confirm word item", ["hl7", "inbox", "confirm", "abc"], {}),
    ("hl7 confirm unknown item", ["hl7", "inbox", "confirm", "424242", "--data", "{}"], {}),
    ("hl7 confirm bad data", ["hl7", "inbox", "confirm", "1", "--data", "{not json"], {}),
    ("hl7 confirm bad occurred-at", ["hl7", "inbox", "confirm", "1", "--occurred-at", "noon"], {}),
    ("hl7 dismiss no reason", ["hl7", "inbox", "dismiss", "1"], {}),
    ("hl7 dismiss control reason", ["hl7", "inbox", "dismiss", "1", "--reason", "seen\x1b[31m", "--as", "x"], {}),
    ("runs huge case", ["runs", "--case", HUGE], {}),
    ("runs retry huge", ["runs", "retry", HUGE], {}),
    ("outbox retry zero", ["outbox", "retry", "0"], {}),
    ("outbox zero limit", ["outbox", "--limit", "0"], {}),
    ("pathway check missing", ["pathway", "check", "/nonexistent/pathway.yaml"], {}),
    ("pathway check garbage", ["pathway", "check", "{dir}/garbage.yaml"], {}),
    ("serve bad port", ["serve", "--port", "99999"], {}),
    ("unknown command", ["frobnicate"], {}),
    ("hl7 import missing file", ["hl7", "import", "{dir}/missing.hl7"], {}),
    ("hl7 import directory", ["hl7", "import", "{dir}"], {}),
    ("hl7 import not hl7", ["hl7", "import", "{dir}/garbage.yaml"], {}),
    ("hl7 import rejected message", ["hl7", "import", str(CORPUS / "unknown_charset.hl7")], {}),
    ("hl7 messages unknown outcome", ["hl7", "messages", "--outcome", "lost"], {}),
    ("hl7 messages odd type", ["hl7", "messages", "--type", "ORU^R01^X"], {}),
    ("hl7 messages control sender", ["hl7", "messages", "--sender", "RIS\x07"], {}),
    ("hl7 messages word since", ["hl7", "messages", "--since", "last week"], {}),
    ("hl7 messages huge limit", ["hl7", "messages", "--limit", HUGE], {}),
    ("hl7 listen port past 65535", ["hl7", "listen", "--port", "70000"], {}),
    ("hl7 listen foreign address", ["hl7", "listen", "--host", "192.0.2.1", "--port", "0"], {}),
    ("no database: hl7 import", ["hl7", "import", str(CORPUS / "oru_r01_lf.hl7")], NO_DATABASE),
    ("no database: hl7 messages", ["hl7", "messages"], NO_DATABASE),
    ("no database: show", ["case", "show", "1"], NO_DATABASE),
    ("no database: overdue", ["overdue"], NO_DATABASE),
    ("no database: open", ["case", "open", *CASE_FLAGS], NO_DATABASE),
    ("not postgres", ["worklist"], {"DATABASE_URL": "sqlite:///nothing.db"}),
]


@pytest.fixture
def scratch(tmp_path):
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "garbage.yaml").write_text("events: [unclosed\n  - {")
    opening = {"mrn": "BAD-F1", "given_name": "A\u0000da", "family_name": "Example", "birth_date": "0001-01-01",
               "laterality": "left", "density": "c"}  # fmt: skip
    (tmp_path / "nul-name.json").write_text(json.dumps(opening))
    (tmp_path / "extra.json").write_text(json.dumps({**opening, "given_name": "Ada", "birth_date": "1968-04-12",
                                                     "ssn": "000-00-0000"}))  # fmt: skip
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "big-reason.json").write_text(json.dumps({"facility_id": 1, "reason": "r" * 1_000_000}))
    return tmp_path


@pytest.fixture
def seeded(committed):
    """A case opened now and an alert on one of its steps."""
    now = datetime.now(UTC)
    with Session(committed) as session:
        case_id = open_case(session, seed_opening(mrn="BAD-SEED"), actor="test", now=now).case_id
        step = session.exec(select(Step).where(Step.case_id == case_id)).first()
        alert = Alert(case_id=case_id, step_id=step.id, level=1, raised_at=now)
        session.add(alert)
        session.commit()
        return {"case": str(case_id), "alert": str(alert.id)}


def run(database_url: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DATABASE_URL": database_url, "WORKUP_ACTOR": "ops:bad-input", **env}
    return subprocess.run([WORKUP, *args], capture_output=True, text=True, env=environment, timeout=120)


# `workup pathway check` reports every problem of a file as `PATH:LINE: ...` (tests/unit/test_pathway_file.py).
REPORTS = {"pathway check missing", "pathway check garbage"}


def check(process: subprocess.CompletedProcess, *, report: bool = False) -> str | None:
    """What is wrong with how a refusal was reported, or None."""
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    if "Traceback" in process.stderr:
        return "traceback"
    if not 2 <= process.returncode <= 7:
        return f"exit {process.returncode}"
    if report:
        return None if lines else "no problem reported"
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"not one `error:` line: {process.stderr[:300]!r}"
    return None


def test_the_table_has_at_least_fifty_bad_invocations():
    assert len(BAD) >= 50
    assert len({name for name, _, _ in BAD}) == len(BAD)


def test_every_bad_invocation_is_one_line_and_a_documented_exit(database_url, committed, seeded, scratch):
    before = {table: count(committed, table) for table in ("patients", "cases", "case_events", "outside_facilities")}
    places = {**seeded, "dir": str(scratch)}

    def one(item):
        name, args, env = item
        args = [arg.replace("{case}", places["case"]).replace("{alert}", places["alert"]).replace("{dir}", places["dir"])
                for arg in args]  # fmt: skip
        return name, run(database_url, args, env)

    with ThreadPoolExecutor(max_workers=6) as pool:  # most of each run is starting Python
        results = list(pool.map(one, BAD))
    problems = {name: problem for name, process in results if (problem := check(process, report=name in REPORTS))}
    assert not problems, problems
    after = {table: count(committed, table) for table in before}
    assert after == before  # a refused command writes nothing


NAMES = ["Ada", "O'Brien", "Zoë", "Nguyễn", "Al-Hassan"]
BREAKERS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\n", "\r", "\t"]


def test_generated_names_with_control_characters_are_refused(database_url, committed, scratch):
    """Names users combine with control characters, sent through --file (argv cannot carry NUL)."""
    rng = random.Random(9)
    before = count(committed, "patients")
    items = []
    for number in range(8):
        name = rng.choice(NAMES)
        where = rng.randrange(1, len(name))  # inside: whitespace at the ends is stripped, not refused
        field = rng.choice(["given_name", "family_name", "mrn"])
        value = name[:where] + BREAKERS[number] + name[where:]
        opening = {"mrn": f"GEN-{number}", "given_name": "Ada", "family_name": "Example",
                   "birth_date": "1968-04-12", "laterality": "left", "density": "c", field: value}  # fmt: skip
        path = scratch / f"gen-{number}.json"
        path.write_text(json.dumps(opening))
        items.append(["case", "open", "--file", str(path)])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: run(database_url, args, {}), items))
    for process in results:
        assert check(process) is None, process.stderr
        assert process.returncode == 2
        assert "control characters" in process.stderr
    assert count(committed, "patients") == before
