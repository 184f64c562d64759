"""Users, their browser sessions, API tokens for machines, and failed logins (for rate limiting)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlmodel import Field, SQLModel

from tracking.base import moment
from tracking.pathway.vocabulary import check_values
from tracking.users.roles import Role


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=String(80), unique=True, nullable=False)
    display_name: str = Field(sa_type=String(200), nullable=False)
    role: str = Field(sa_type=String(20), nullable=False)
    password_hash: str = Field(sa_type=String(300), nullable=False)
    disabled_at: datetime | None = moment(nullable=True)
    created_at: datetime = moment(default_now=True)

    __table_args__ = (
        CheckConstraint(f"role IN ({check_values(Role)})", name="role"),
        CheckConstraint("username ~ '^[a-z0-9._-]{2,80}$'", name="username_format"),
    )


class UserSession(SQLModel, table=True):
    """A browser login. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    token_hash: str = Field(sa_type=String(64), unique=True, nullable=False)
    csrf_token: str = Field(sa_type=String(64), nullable=False)
    created_at: datetime = moment()
    expires_at: datetime = moment()  # the absolute timeout
    last_seen_at: datetime = moment()  # for the idle timeout
    ended_at: datetime | None = moment(nullable=True)


class ApiToken(SQLModel, table=True):
    """A machine client's bearer token. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    name: str = Field(sa_type=String(120), nullable=False)
    token_hash: str = Field(sa_type=String(64), unique=True, nullable=False)
    created_at: datetime = moment()
    last_used_at: datetime | None = moment(nullable=True)
    revoked_at: datetime | None = moment(nullable=True)


class LoginFailure(SQLModel, table=True):
    __tablename__ = "login_failures"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=String(80), nullable=False)
    client: str = Field(sa_type=String(64), nullable=False)
    at: datetime = moment()

    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_client_at", "client", "at"),
    )
