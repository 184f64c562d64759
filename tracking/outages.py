"""Tell an outage from a mistake. Outages (the database, the Prefect API, the network, an SMTP
server that does not answer) pass: work that meets one backs off and retries until it succeeds,
and never counts toward giving up. Anything else is deterministic and counts (ADR 7)."""

from __future__ import annotations

import smtplib
import socket
import ssl
import urllib.error


def is_outage(error: BaseException) -> bool:
    """True when `error`, or anything that caused it, is a service being away rather than a bad request."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _outage_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _outage_itself(error: BaseException) -> bool:
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500  # 4xx: try again later; 5xx: refused for good
    if isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    if isinstance(error, ssl.SSLCertVerificationError):
        return False  # a configuration to fix, not a server away
    if isinstance(error, urllib.error.HTTPError):
        return _retryable_status(error.code)
    if isinstance(error, urllib.error.URLError):
        return isinstance(error.reason, OSError)  # e.g. connection refused; "unknown url type" is not
    if isinstance(error, ConnectionError | TimeoutError | socket.timeout | socket.gaierror):
        return True
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return True  # network-level errors (unreachable host, reset, broken pipe)
    return _third_party_outage(error)


def _third_party_outage(error: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - a declared dependency (through Prefect)
        httpx = None
    if httpx is not None:
        if isinstance(error, httpx.TransportError):
            return True
        if isinstance(error, httpx.HTTPStatusError):
            return _retryable_status(error.response.status_code)
    from sqlalchemy import exc

    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError | exc.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def _retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def retryable_http_status(status: int) -> bool:
    """An HTTP answer that means "not now" (timeouts, rate limits, server errors), not "never"."""
    return _retryable_status(status)
