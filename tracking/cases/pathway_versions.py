"""The pathway versions cases use, each with the content hash it must keep.

A case is pinned to its pathway's name and version. A version that cases use must never change
in place: its first use records the file's content hash (and its timeliness milestones, for the
case_timeliness view) and every case stores the hash it was opened under; any later use with other
content is refused until the change is saved as a new version. `workup pathway check` runs the
same comparison before a file is deployed.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.cases.errors import PathwayChanged
from tracking.cases.models import Case
from tracking.pathway.definition import Pathway

# One round trip: register the first use, and read what is stored either way.
REGISTER = text(
    """
    WITH added AS (
        INSERT INTO pathway_versions (name, version, content_hash, milestones, first_used_at)
        VALUES (:name, :version, :hash, CAST(:milestones AS jsonb), :now)
        ON CONFLICT (name, version) DO NOTHING
        RETURNING content_hash
    )
    SELECT content_hash FROM added
    UNION ALL
    SELECT content_hash FROM pathway_versions WHERE name = :name AND version = :version
    LIMIT 1
    """
)
STORED = text("SELECT content_hash FROM pathway_versions WHERE name = :name AND version = :version")


def ensure_registered(session: Session, pathway: Pathway, now: datetime) -> None:
    """Record the first use of this pathway version, or refuse content that changed since it."""
    stored = session.execute(
        REGISTER,
        {
            "name": pathway.name,
            "version": pathway.version,
            "hash": pathway.content_hash,
            "milestones": json.dumps(pathway.timeliness),
            "now": now,
        },
    ).scalar_one()
    if stored != pathway.content_hash:
        raise PathwayChanged(changed_message(pathway, stored))


def check_case_pathway(session: Session, case: Case, pathway: Pathway, now: datetime) -> str:
    """The file `case` is read under must be the content it was opened under (no extra round trip);
    a case from before hashes were kept registers the version and takes its hash. Returns the hash
    the case keeps: the caller writes it with what it records (tracking/cases/applying.py)."""
    if case.pathway_hash is None:
        ensure_registered(session, pathway, now)
        return pathway.content_hash
    if case.pathway_hash != pathway.content_hash:
        raise PathwayChanged(changed_message(pathway, case.pathway_hash))
    return case.pathway_hash


def stored_hash(session: Session, name: str, version: int) -> str | None:
    return session.execute(STORED, {"name": name, "version": version}).scalar_one_or_none()


def changed_message(pathway: Pathway, stored: str) -> str:
    return (
        f"pathway {pathway.name} version {pathway.version} is in use by cases but its file has changed "
        f"(content {pathway.content_hash[:12]}, cases were opened under {stored[:12]}); restore the file, "
        f"or save the change as version {pathway.version + 1} in a new file"
    )
