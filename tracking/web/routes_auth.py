"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from tracking.users.service import TooManyAttempts, authenticate, end_session, start_session
from tracking.web.deps import SESSION_COOKIE, NowDep, Reader, SessionDep
from tracking.web.templating import page

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a signed-in user to another host."""
    parsed = urlparse(target or "")
    if target and not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return "/worklist"


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    return page(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    now: NowDep,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/worklist"),
):
    client = request.client.host if request.client else "unknown"
    try:
        user = authenticate(session, username, password, client=client, now=now)
    except TooManyAttempts:
        session.commit()
        return page(request, "login.html", status_code=429, next=safe_next(next),
                    error="Too many failed sign-ins. Wait 15 minutes and try again.")  # fmt: skip
    if user is None:
        session.commit()  # the failure is recorded for rate limiting
        return page(request, "login.html", status_code=401, next=safe_next(next),
                    error="That username and password do not match.")  # fmt: skip
    token, _ = start_session(session, user, now=now)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=12 * 3600
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: NowDep, signed: Reader):
    end_session(session, request.cookies.get(SESSION_COOKIE), now=now)
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(signed: Reader):
    return RedirectResponse("/worklist", status_code=303)
