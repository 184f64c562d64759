"""Users, sign-in with rate limiting, browser sessions and API tokens. The caller owns the transaction."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.users.models import ApiToken, LoginFailure, User, UserSession
from tracking.users.passwords import MIN_LENGTH, hash_password, verify_password
from tracking.users.roles import Role

SESSION_LIFETIME = timedelta(hours=12)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
USERNAME = re.compile(r"^[a-z0-9._-]{2,80}$")


class TooManyAttempts(Exception):
    """Sign-in is blocked for a while after repeated failures."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session, *, username: str, display_name: str, role: str, password: str, actor: str, now: datetime
) -> User:
    """Add a user; the password is stored as an argon2id hash only."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise InvalidInput("a username is 2-80 characters: lowercase letters, digits, '.', '_' or '-'")
    if role not in {item.value for item in Role}:
        raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(item.value for item in Role)}")
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if session.exec(select(User).where(User.username == username)).first():
        raise InvalidInput(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit(session, actor=actor, action="user.created", at=now, user_id=user.id, role=role)
    return user


def find_user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def disable_user(session: Session, username: str, *, actor: str, now: datetime) -> User:
    """Disable a user: sign-in refused, open sessions ended, API tokens revoked."""
    user = find_user(session, username)
    user.disabled_at = user.disabled_at or now
    session.add(user)
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, col(UserSession.ended_at).is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None)).values(revoked_at=now)
    )
    audit(session, actor=actor, action="user.disabled", at=now, user_id=user.id)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str, *, client: str, now: datetime) -> User | None:
    """The user when the password is right; None when wrong. Raises TooManyAttempts when rate-limited."""
    username = (username or "").strip().lower()[:80]
    recent = session.exec(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.at > now - FAILURE_WINDOW)
        .where(or_(LoginFailure.username == username, LoginFailure.client == client))
    ).one()
    if recent >= MAX_FAILURES:
        raise TooManyAttempts
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        verify_password(None, password)  # an unknown name costs as long as a wrong password
    elif user.disabled_at is None and verify_password(user.password_hash, password):
        audit(session, actor=user.username, action="user.signed_in", at=now)
        return user
    session.add(LoginFailure(username=username, client=client[:64], at=now))
    audit(session, actor=username or "?", action="user.sign_in_failed", at=now, client=client[:64])
    return None


def start_session(session: Session, user: User, *, now: datetime) -> tuple[str, UserSession]:
    """A new browser session; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class Signed:
    """Who is asking: the user, and the session (None for an API token)."""

    user: User
    browser: UserSession | None


def session_user(session: Session, token: str | None, *, now: datetime) -> Signed | None:
    if not token:
        return None
    row = session.exec(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest(token), col(UserSession.ended_at).is_(None))
        .where(UserSession.expires_at > now, col(User.disabled_at).is_(None))
    ).first()
    return Signed(row[1], row[0]) if row else None


def end_session(session: Session, token: str | None, *, now: datetime) -> None:
    if token:
        session.execute(update(UserSession).where(UserSession.token_hash == digest(token)).values(ended_at=now))


def create_api_token(session: Session, username: str, *, name: str, actor: str, now: datetime) -> str:
    """A new bearer token for a machine client; shown once, stored as a hash."""
    user = find_user(session, username)
    if user.disabled_at is not None:
        raise InvalidInput(f"user {username!r} is disabled")
    token = "bw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name.strip() or "api", token_hash=digest(token), created_at=now))
    audit(session, actor=actor, action="token.created", at=now, user_id=user.id, name=name)
    session.flush()
    return token


def token_user(session: Session, token: str, *, now: datetime) -> Signed | None:
    row = session.exec(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(token), col(ApiToken.revoked_at).is_(None))
        .where(col(User.disabled_at).is_(None))
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.last_used_at is None or now - api_token.last_used_at > TOKEN_USE_RESOLUTION:
        # At most one write a minute per token: concurrent requests must not queue on this row.
        api_token.last_used_at = now
        session.add(api_token)
    return Signed(user, None)


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.username)))
