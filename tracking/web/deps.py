"""Request dependencies: the database session, the clock, who is asking and what they may do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from tracking.db import get_engine
from tracking.settings import get_settings
from tracking.users.roles import Role
from tracking.users.service import Signed, session_user, token_user

SESSION_COOKIE = "workup_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def get_db() -> Iterator[Session]:
    """The request's unit of work: commit when the route returns, roll back when anything raises.

    Routes raise (tracking/cases/errors.py) instead of answering errors themselves; the exception
    handlers in app.py turn the error into its answer after this rollback. Objects are expunged
    before the rollback so the error page can still show who is signed in.
    """
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.expunge_all()
            session.rollback()
            raise
        else:
            session.commit()


def get_now() -> datetime:
    return datetime.now(UTC)


SessionDep = Annotated[Session, Depends(get_db, scope="function")]  # ends before the answer is sent
NowDep = Annotated[datetime, Depends(get_now)]


class LoginRequired(Exception):
    """Nobody is signed in: pages redirect to /login, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role may not do this (or the CSRF token is missing or wrong)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir/") or request.url.path == "/fhir"


def is_api(request: Request) -> bool:
    """For machines: /api (JSON errors) and /fhir (OperationOutcomes); 401 rather than the sign-in page."""
    return request.url.path.startswith("/api") or is_fhir(request)


def signed_in(request: Request, session: SessionDep, now: NowDep) -> Signed | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        signed = token_user(session, header[7:].strip(), now=now)
    elif is_api(request) and not request.cookies.get(SESSION_COOKIE):
        return None
    else:
        signed = session_user(session, request.cookies.get(SESSION_COOKIE), now=now)
    if session.dirty:
        session.commit()  # last_seen_at / last_used_at (at most once a minute), whatever the route does next
    return signed


def _is_trusted(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request) -> str:
    """The client's address: the connection's peer, unless that peer is a trusted proxy
    (WORKUP_TRUSTED_PROXIES); then the nearest X-Forwarded-For hop that is not a trusted proxy."""
    address = request.client.host if request.client else "unknown"
    networks = get_settings().trusted_proxy_networks
    if not networks or not _is_trusted(address, networks):
        return address
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        address = hop
        if not _is_trusted(hop, networks):
            break
    return address[:64]


async def _check_csrf(request: Request, signed: Signed) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or signed.browser is None:
        return  # API tokens are not sent by browsers on their own, so they need no CSRF token
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get(CSRF_FIELD)
    if not sent or sent != signed.browser.csrf_token:
        raise Forbidden("The form expired or did not come from this site. Reload the page and try again.")


def require(*roles: Role) -> Callable:
    """A dependency that lets through signed-in users with one of `roles` (all roles when none given)."""
    allowed = frozenset(roles) or frozenset(Role)

    async def dependency(request: Request, signed: Annotated[Signed | None, Depends(signed_in)]) -> Signed:
        if signed is None:
            raise LoginRequired
        request.state.signed = signed  # who asked: also for the error page and the audit of a denial
        if signed.user.role not in allowed:
            raise Forbidden(f"Your role ({signed.user.role.replace('_', ' ')}) may not do this.")
        await _check_csrf(request, signed)
        return signed

    return dependency


Reader = Annotated[Signed, Depends(require())]
