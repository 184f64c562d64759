"""Errors the services raise. Each carries one clear sentence for the person who caused it."""

from __future__ import annotations

from tracking.pathway.decision import Refusal


class WorkupError(Exception):
    """Base: the request was refused and nothing was written."""

    exit_code = 1


class NotFound(WorkupError):
    exit_code = 3


class InvalidInput(WorkupError):
    exit_code = 2


class GuardRefused(WorkupError):
    """The pathway refused the event; `refusal.guard` names the safety guard when one applies."""

    exit_code = 4

    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(str(refusal))


class VersionConflict(WorkupError):
    """Someone changed the case since the caller read it."""

    exit_code = 5


class IdempotencyKeyReused(WorkupError):
    """The idempotency key first came with a different request; the message names the key (exit 2, HTTP 422)."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None):
        self.key = key
        super().__init__(message)
