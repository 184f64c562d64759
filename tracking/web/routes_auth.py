"""Sign in and sign out."""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tracking.settings import get_settings
from tracking.users.service import TooManyAttempts, authenticate, end_session, start_session
from tracking.web.deps import SESSION_COOKIE, NowDep, Reader, SessionDep, client_address
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)

# Login CSRF: a double-submit token. GET /login sets a random value in an HttpOnly, SameSite=Strict
# cookie scoped to /login and puts the same value in the form; POST /login accepts only a form whose
# token equals the cookie. Another site can neither read the cookie nor set it for this host.
LOGIN_CSRF_COOKIE = "workup_login_csrf"
LOGIN_CSRF_FIELD = "csrf_token"


def safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a signed-in user to another host."""
    parsed = urlparse(target or "")
    if target and not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return "/worklist"


def _login_token(request: Request) -> str:
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return current if 32 <= len(current) <= 64 and current.isascii() else secrets.token_urlsafe(32)


def login_page(request: Request, *, next: str | None, error: str | None, status_code: int = 200,
               headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    token = _login_token(request)
    response = page(request, "login.html", status_code=status_code, next=safe_next(next), error=error,
                    login_csrf=token)  # fmt: skip
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=request.url.scheme == "https")  # fmt: skip
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    return login_page(request, next=next, error=None)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    now: NowDep,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/worklist"),
    csrf_token: str = Form(""),
):
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return login_page(request, next=next, status_code=403,
                          error="The sign-in form expired or did not come from this site. Try again.")  # fmt: skip
    try:
        user = authenticate(session, username, password, client=client_address(request), now=now)
    except TooManyAttempts as throttled:
        session.commit()
        seconds = max(1, math.ceil(throttled.retry_after.total_seconds()))
        wait = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
        return login_page(request, next=next, status_code=429, headers={"Retry-After": str(seconds)},
                          error=f"Too many failed sign-ins. Wait {wait} and try again.")  # fmt: skip
    if user is None:
        session.commit()  # the failure is recorded for throttling
        return login_page(request, next=next, status_code=401, error="That username and password do not match.")
    token, _ = start_session(session, user, now=now)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=get_settings().session_hours * 3600)  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: NowDep, signed: Reader):
    end_session(session, request.cookies.get(SESSION_COOKIE), actor=signed.user.username, now=now)
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(signed: Reader):
    return RedirectResponse("/worklist", status_code=303)
