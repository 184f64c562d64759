"""A pathway version in use never changes in place (ADR 8): registered with its content hash at first
use, refused at use and by `workup pathway check` once its file changes; milestones feed the
case_timeliness view."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.conftest import PATHWAY_FILE
from tests.factories import PROBABLY_BENIGN_MAG, seed_opening
from tracking.cases.errors import PathwayChanged
from tracking.cases.models import Case
from tracking.cases.opening import open_case
from tracking.cases.recording import record_event
from tracking.pathway.definition import load_pathway
from tracking.settings import get_settings

WORKUP = str(Path(sys.executable).parent / "workup")


@pytest.fixture
def pathways_dir(tmp_path, monkeypatch):
    """A copy of the shipped pathways the test may edit."""
    folder = tmp_path / "pathways"
    shutil.copytree(PATHWAY_FILE.parent, folder)
    monkeypatch.setenv("WORKUP_PATHWAYS_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def edit(path: Path, old: str, new: str) -> None:
    text_now = path.read_text(encoding="utf-8")
    assert text_now.count(old) == 1
    path.write_text(text_now.replace(old, new), encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))  # a new mtime: the loader reads it again


def check(database_url: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [WORKUP, "pathway", "check", *args, str(folder / "calcifications.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_first_use_registers_the_version_and_the_case_keeps_its_hash(session, now, pathways_dir):
    opened = open_case(session, seed_opening(), actor="nav:test", now=now)
    case = session.get(Case, opened.case_id)
    expected = load_pathway(pathways_dir / "calcifications.yaml")
    assert case.pathway_hash == expected.content_hash
    row = session.execute(text("SELECT content_hash, milestones FROM pathway_versions")).one()
    assert row.content_hash == expected.content_hash
    assert row.milestones["diagnostic_imaging"] == ["magnification_views"]


def test_a_used_version_edited_in_place_is_refused_and_nothing_is_written(session, now, pathways_dir):
    opened = open_case(session, seed_opening(), actor="nav:test", now=now)
    edit(pathways_dir / "calcifications.yaml", "    due: {days: 28}", "    due: {days: 42}")
    events = session.execute(text("SELECT count(*) FROM case_events")).scalar_one()
    with pytest.raises(PathwayChanged) as refused:
        record_event(session, opened.case_id, "magnification_result", PROBABLY_BENIGN_MAG, actor="nav:test", now=now)
    assert "calcifications version 2 is in use" in str(refused.value) and "version 2" in str(refused.value)
    with pytest.raises(PathwayChanged):
        open_case(session, seed_opening(mrn="TEST-SEED-2"), actor="nav:test", now=now)
    assert session.execute(text("SELECT count(*) FROM case_events")).scalar_one() == events


def test_a_comment_is_not_a_change(session, now, pathways_dir):
    opened = open_case(session, seed_opening(), actor="nav:test", now=now)
    edit(
        pathways_dir / "calcifications.yaml",
        "# Calcifications workup",
        "# Reviewed by Dr Example. Calcifications workup",
    )
    record_event(session, opened.case_id, "magnification_result", PROBABLY_BENIGN_MAG, actor="nav:test", now=now)


def test_pathway_check_refuses_a_used_version_changed_in_place(engine, committed, database_url, now, pathways_dir):
    with Session(engine) as session:
        open_case(session, seed_opening(), actor="nav:test", now=now)
        session.commit()
    unchanged = check(database_url, pathways_dir)
    assert unchanged.returncode == 0, unchanged.stderr
    edit(pathways_dir / "calcifications.yaml", "    due: {days: 28}", "    due: {days: 42}")
    changed = check(database_url, pathways_dir)
    assert changed.returncode == 2
    assert "calcifications version 2 is in use by cases but its file has changed" in changed.stderr
    assert "Traceback" not in changed.stderr
    skipped = check(database_url, pathways_dir, "--no-database")
    assert skipped.returncode == 0  # the file itself is valid; only its use makes it wrong


def test_case_timeliness_reads_the_milestones_of_the_case_pathway(engine, committed, now, pathways_dir):
    from datetime import timedelta

    with Session(engine) as session:
        opened = open_case(session, seed_opening(), actor="nav:test", now=now)
        record_event(
            session,
            opened.case_id,
            "magnification_result",
            PROBABLY_BENIGN_MAG,
            actor="nav:test",
            now=now + timedelta(days=4),
        )
        session.commit()
        row = session.execute(
            text("SELECT diagnostic_imaging_at, diagnosis_at, days_finding_to_diagnosis FROM case_timeliness")
        ).one()
    assert row.diagnostic_imaging_at == now + timedelta(days=4)
    assert row.diagnosis_at == now + timedelta(days=4)  # a BI-RADS 3 read is a diagnosis
    assert float(row.days_finding_to_diagnosis) == 4.0
