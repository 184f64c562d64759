"""Shared column helpers and the metadata naming convention every table uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def moment(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    """A timezone-aware timestamp column."""
    kwargs: dict[str, Any] = {"nullable": nullable, "index": index}
    return Field(
        default_factory=utcnow if default_now else (lambda: None),
        sa_column=Column(DateTime(timezone=True), **kwargs),
    )


def json_column(*, nullable: bool = False) -> Any:
    return Field(default_factory=dict, sa_column=Column(JSONB, nullable=nullable, server_default="{}"))
