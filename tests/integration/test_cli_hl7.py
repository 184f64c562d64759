"""`workup hl7 import` and `workup hl7 messages` as real processes against the test database."""

from __future__ import annotations

import json
import shutil

from tests.hl7_support import CORPUS
from tests.integration.test_cli import count, one_clear_line, workup  # noqa: F401 - fixture


def corpus_path(name: str) -> str:
    return str(CORPUS / name)


def test_import_prints_each_messages_outcome_and_messages_lists_them(workup, committed):  # noqa: F811
    imported = workup("hl7", "import", corpus_path("batch.hl7"), corpus_path("oru_r01_lf.hl7"))
    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert any("batch.hl7 #2: NS-BATCH-0002 SIU^S26: AA " in line for line in lines), imported.stdout
    assert any("oru_r01_lf.hl7 #1: NS-ORU-0001 ORU^R01: AA" in line for line in lines)
    assert lines[-1] == "4 messages: 4 accepted, 0 rejected, 0 not stored."
    listed = json.loads(workup("hl7", "messages", "--json").stdout)
    assert [row["control_id"] for row in listed] == ["NS-ORU-0001", "NS-BATCH-0003", "NS-BATCH-0002", "NS-BATCH-0001"]
    first = listed[-1]
    assert set(first) >= {"id", "sender", "control_id", "type", "received_at", "outcome", "detail", "case_id"}
    assert (first["sender"], first["type"], first["ack_code"]) == ("RIS^NORTHSIDE", "SIU^S15", "AA")
    assert first["outcome"] in {"applied", "queued", "ignored"}  # the interpreter's to decide
    assert "raw" not in first and "MRN1008" not in json.dumps(listed), "never the message's content"


def test_importing_again_finds_duplicates_and_stores_nothing_new(workup, committed):  # noqa: F811
    assert workup("hl7", "import", corpus_path("framed.mllp")).returncode == 0
    again = workup("hl7", "import", "--json", corpus_path("framed.mllp"))
    assert again.returncode == 0, again.stderr
    assert [(row["control_id"], row["ack"], row["duplicate"]) for row in json.loads(again.stdout)] == [
        ("NS-MLLP-0014", "AA", True), ("NS-MLLP-0015", "AA", True),
    ]  # fmt: skip
    assert count(committed, "hl7_messages") == 2


def test_a_rejected_message_makes_import_exit_non_zero_after_importing_the_rest(workup, committed, tmp_path):  # noqa: F811
    mixed = tmp_path / "mixed.hl7"
    mixed.write_bytes((CORPUS / "unknown_charset.hl7").read_bytes() + (CORPUS / "siu_s12_utf8.hl7").read_bytes())
    process = workup("hl7", "import", str(mixed))
    assert one_clear_line(process) == "error: 1 of 2 messages were rejected (AR)"
    assert process.returncode == 2
    assert "mixed.hl7 #1: NS-ORU-0012 ORU^R01: AR rejected" in process.stdout
    assert "mixed.hl7 #2: NS-SIU-0004 SIU^S12: AA" in process.stdout
    outcomes = json.loads(workup("hl7", "messages", "--json", "--outcome", "rejected").stdout)
    assert [row["control_id"] for row in outcomes] == ["NS-ORU-0012"]


def test_a_bad_file_is_a_clear_error_and_imports_nothing(workup, committed, tmp_path):  # noqa: F811
    good = corpus_path("oru_r01_lf.hl7")
    not_hl7 = tmp_path / "notes.txt"
    not_hl7.write_text("Dear colleague,\nplease find attached\n")
    refused = workup("hl7", "import", good, str(not_hl7))
    assert one_clear_line(refused) == f"error: {not_hl7}: line 1 comes before any MSH segment"
    assert refused.returncode == 2
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"")
    assert "no HL7 message found" in one_clear_line(workup("hl7", "import", str(empty)))
    missing = workup("hl7", "import", str(tmp_path / "missing.hl7"))
    assert (one_clear_line(missing), missing.returncode) == (f"error: {tmp_path / 'missing.hl7'}: no such file", 3)
    assert "is a directory" in one_clear_line(workup("hl7", "import", str(tmp_path)))
    assert count(committed, "hl7_messages") == 0, "a bad file among the files: nothing was imported"


def test_messages_filters_and_refuses_bad_values(workup, committed, tmp_path):  # noqa: F811
    for name in ("oru_r01_lf.hl7", "adt_a08_latin1.hl7", "malformed_no_msh.hl7"):
        shutil.copy(CORPUS / name, tmp_path / name)
    workup("hl7", "import", str(tmp_path / "oru_r01_lf.hl7"), str(tmp_path / "adt_a08_latin1.hl7"))
    by_type = json.loads(workup("hl7", "messages", "--json", "--type", "ADT^A08").stdout)
    assert [row["control_id"] for row in by_type] == ["NS-ADT-0003"]
    assert json.loads(workup("hl7", "messages", "--json", "--since", "2999-01-01").stdout) == []
    assert len(json.loads(workup("hl7", "messages", "--json", "--limit", "1").stdout)) == 1
    table = workup("hl7", "messages")
    assert table.returncode == 0 and "NS-ADT-0003" in table.stdout and "Müller" not in table.stdout
    bad = workup("hl7", "messages", "--outcome", "lost")
    assert one_clear_line(bad) == "error: --outcome 'lost' is not one of applied, queued, ignored, rejected"
    assert "--since" in one_clear_line(workup("hl7", "messages", "--since", "yesterday"))
