"""The pathway versions cases use, each with the content hash it must keep.

A case is pinned to its pathway's name and version. A version that cases use must never change
in place: the first use records the file's content hash (and its timeliness milestones, for the
case_timeliness view); any later use with other content is refused until the change is made as a
new version. `workup pathway check` runs the same comparison before a file is deployed.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from tracking.cases.errors import PathwayChanged
from tracking.pathway.definition import Pathway

# (name, version, hash) already compared with the database by this process.
_VERIFIED: set[tuple[str, int, str]] = set()

REGISTER = text(
    """
    INSERT INTO pathway_versions (name, version, content_hash, milestones, first_used_at)
    VALUES (:name, :version, :hash, CAST(:milestones AS jsonb), :now)
    ON CONFLICT (name, version) DO NOTHING
    """
)
STORED = text("SELECT content_hash FROM pathway_versions WHERE name = :name AND version = :version")


def ensure_registered(session: Session, pathway: Pathway, now: datetime) -> None:
    """Record the first use of this pathway version, or refuse content that changed since it."""
    key = (pathway.name, pathway.version, pathway.content_hash)
    if key in _VERIFIED:
        return
    params = {"name": pathway.name, "version": pathway.version}
    session.execute(
        REGISTER,
        {**params, "hash": pathway.content_hash, "milestones": json.dumps(pathway.timeliness), "now": now},
    )
    stored = session.execute(STORED, params).scalar_one()
    if stored != pathway.content_hash:
        raise PathwayChanged(changed_message(pathway, stored))
    _VERIFIED.add(key)


def stored_hash(session: Session, name: str, version: int) -> str | None:
    return session.execute(STORED, {"name": name, "version": version}).scalar_one_or_none()


def changed_message(pathway: Pathway, stored: str) -> str:
    return (
        f"pathway {pathway.name} version {pathway.version} is in use by cases but its file has changed "
        f"(content {pathway.content_hash[:12]}…, cases were opened under {stored[:12]}…); restore the file, "
        f"or save the change as version {pathway.version + 1} in a new file"
    )


def forget_verified() -> None:
    """Compare again on next use (tests that edit pathway files)."""
    _VERIFIED.clear()
