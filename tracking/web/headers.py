"""Security headers on every response: no caching of patient data, a strict CSP, no framing.

A pure ASGI middleware, installed outermost (around Starlette's own error middleware), so even a
500 carries the headers. Nothing here reads or changes a body.

- `Cache-Control: no-store` on pages and the API (patient data must not stay in a shared or
  browser cache, nor come back with the Back button after sign-out); `/static/` may be cached.
- `Content-Security-Policy`: scripts only from this origin (the vendored htmx; no inline script,
  no eval: htmx runs with `allowEval: false`, see base.html), styles only from this origin except
  `style` *attributes* (`style-src-attr 'unsafe-inline'`): the server-drawn SVG charts and a few
  templates size things with them, and an attribute style can neither run script nor select other
  elements (the CSS exfiltration tricks need a <style> element or a stylesheet, which stay
  blocked). No frames, objects, base or foreign form targets.
- `frame-ancestors 'none'` and `X-Frame-Options: DENY`; `Referrer-Policy: no-referrer`;
  `X-Content-Type-Options: nosniff`.

`/api/docs` (Swagger UI, signed-in users only, no patient data) loads its script and styles
from the jsDelivr CDN and starts them with an inline script, so that one page gets its own policy
allowing exactly that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' {DOCS_CDN} 'unsafe-inline'",
        f"style-src 'self' {DOCS_CDN} 'unsafe-inline'",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
DOCS_PATHS = ("/api/docs", "/api/docs/oauth2-redirect")
STATIC_PREFIX = "/static/"

COMMON = {
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
}


def headers_for(path: str) -> dict[bytes, bytes]:
    """The headers a response to `path` gets (replacing any of the same name)."""
    headers = dict(COMMON)
    headers[b"content-security-policy"] = (DOCS_CSP if path in DOCS_PATHS else CSP).encode()
    if not path.startswith(STATIC_PREFIX):
        headers[b"cache-control"] = b"no-store"
        headers[b"pragma"] = b"no-cache"  # HTTP/1.0 caches
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in extra]
                message["headers"] = kept + list(extra.items())
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app) -> None:
    """Wrap the app's whole middleware stack (built lazily by Starlette) in SecurityHeaders."""
    build = app.build_middleware_stack

    def build_with_headers():
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers
