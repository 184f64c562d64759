"""Users, sign-in with rate limiting, browser sessions and API tokens. The caller owns the transaction."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, text, update
from sqlmodel import Session, col, select

from tracking.audit import audit
from tracking.cases.errors import InvalidInput, NotFound
from tracking.settings import get_settings
from tracking.users.models import ApiToken, LoginFailure, User, UserSession
from tracking.users.passwords import MIN_LENGTH, hash_password, verify_password
from tracking.users.roles import Role

# Failed sign-ins are throttled per (account, address): after FREE_FAILURES failures of one name from
# one address, each further attempt from that address waits FIRST_DELAY, doubling per failure up to
# MAX_DELAY. Another address is never slowed down, so nobody can lock a navigator out from elsewhere.
FREE_FAILURES = 5
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=24)  # older failures no longer count; a success forgets them at once
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at / last_seen_at are written at most once a minute
USERNAME = re.compile(r"^[a-z0-9._-]{2,80}$")


class TooManyAttempts(Exception):
    """Sign-in of this name from this address must wait `retry_after`."""

    def __init__(self, retry_after: timedelta):
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after}")


def session_lifetime() -> timedelta:
    return timedelta(hours=get_settings().session_hours)


def session_idle_limit() -> timedelta:
    return timedelta(minutes=get_settings().session_idle_minutes)


def throttle_delay(failures: int, last_failure: datetime | None, now: datetime) -> timedelta:
    """How long the next attempt must still wait after `failures` recent failures (zero: go ahead)."""
    if failures < FREE_FAILURES or last_failure is None:
        return timedelta(0)
    delay = min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 16), MAX_DELAY)
    return max(last_failure + delay - now, timedelta(0))


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


def assignable_navigator(session: Session, username: str) -> User:
    """The user a case may be assigned to: an active navigator. InvalidInput (422) says why not."""
    name = username.strip().lower()[:80]
    user = session.exec(select(User).where(User.username == name)).first()
    if user is None:
        raise InvalidInput(f"{name!r} is not a user; cases are assigned to active navigators only")
    if user.role != Role.navigator:
        raise InvalidInput(
            f"{name!r} is {user.role.replace('_', ' ')}, not a navigator; cases are assigned to active navigators only"
        )
    if user.disabled_at is not None:
        raise InvalidInput(f"{name!r} is disabled; cases are assigned to active navigators only")
    return user


def authenticate(session: Session, username: str, password: str, *, client: str, now: datetime) -> User | None:
    """The user when the password is right; None when wrong. Raises TooManyAttempts while throttled.

    Unknown, disabled and existing names all cost one argon2 verification, so the answer's timing
    does not tell them apart. Attempts of one name from one address are serialised (advisory lock),
    so parallel guesses cannot slip past the throttle.
    """
    username = (username or "").strip().lower()[:80]
    client = client[:64]
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"sign-in:{username}:{client}"}
    )
    failures, last_failure = session.exec(
        select(func.count(), func.max(LoginFailure.at))
        .where(LoginFailure.username == username, LoginFailure.client == client)
        .where(LoginFailure.at > now - FAILURE_MEMORY)
    ).one()
    wait = throttle_delay(failures, last_failure, now)
    if wait > timedelta(0):
        raise TooManyAttempts(wait)
    user = session.exec(select(User).where(User.username == username)).first()
    # Always one verification (a dummy hash for an unknown name), and the disabled check after it.
    right = verify_password(user.password_hash if user else None, password)
    if user is not None and right and user.disabled_at is None:
        session.execute(
            delete(LoginFailure).where(col(LoginFailure.username) == username, col(LoginFailure.client) == client)
        )
        audit(session, actor=user.username, action="user.signed_in", at=now, client=client)
        return user
    session.add(LoginFailure(username=username, client=client, at=now))
    audit(session, actor=username or "?", action="user.sign_in_failed", at=now, client=client)
    return None


def start_session(session: Session, user: User, *, now: datetime) -> tuple[str, UserSession]:
    """A new browser session; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + session_lifetime(),
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
    """The signed-in user of a session cookie, unless the session ended, expired or sat idle too long.

    A live session's last_seen_at moves to `now` when it is a minute or more old (at most one write
    a minute per session); the caller commits.
    """
    if not token:
        return None
    row = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == col(UserSession.user_id))
        .where(UserSession.token_hash == digest(token), col(UserSession.ended_at).is_(None))
        .where(UserSession.expires_at > now, col(User.disabled_at).is_(None))
        .where(UserSession.last_seen_at > now - session_idle_limit())
    ).first()
    if row is None:
        return None
    browser, user = row
    if now - browser.last_seen_at >= TOKEN_USE_RESOLUTION:
        browser.last_seen_at = now  # written with the caller's commit
        session.add(browser)
    return Signed(user, browser)


def end_session(session: Session, token: str | None, *, actor: str, now: datetime) -> None:
    """Sign out: the session ends, and the audit log says so."""
    if token:
        session.execute(
            update(UserSession)
            .where(UserSession.token_hash == digest(token), col(UserSession.ended_at).is_(None))
            .values(ended_at=now)
        )
        audit(session, actor=actor, action="user.signed_out", at=now)


def sign_out_everywhere(session: Session, username: str, *, actor: str, now: datetime) -> int:
    """End every open session of a user (API tokens stay); returns how many were still live."""
    user = find_user(session, username)
    live = session.exec(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == user.id, col(UserSession.ended_at).is_(None), UserSession.expires_at > now)
    ).one()
    session.execute(
        update(UserSession)
        .where(col(UserSession.user_id) == user.id, col(UserSession.ended_at).is_(None))
        .values(ended_at=now)
    )
    audit(session, actor=actor, action="user.signed_out_everywhere", at=now, user_id=user.id, sessions=live)
    session.flush()
    return live


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
