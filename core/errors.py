"""The project's own errors.

Every layer raises these, never a storage or SDK exception: adapters translate
at their boundary (``raise NotFound(...) from exc``).  Each error carries a
message a user can act on, an HTTP-like status the API maps one to one, and
whether retrying the same call can help.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PushpoolError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    status: int = 400
    retryable: bool = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(PushpoolError):
    """The request is malformed or violates a rule; fix the input and retry."""

    status = 422

    def __init__(self, detail: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.path = path


class Forbidden(PushpoolError):
    """The caller may not do this (reserved name, missing scope)."""

    status = 403


class Unauthorized(PushpoolError):
    """No valid token was presented."""

    status = 401


class NotFound(PushpoolError):
    """The named object does not exist."""

    status = 404


class Conflict(PushpoolError):
    """The write lost a race or collides with existing state (duplicate name,
    stale version, run no longer in the expected state)."""

    status = 409


class CapacityFull(Conflict):
    """A pool or queue concurrency limit is reached; the claim was not taken."""

    def __init__(self, detail: str, *, scope: str) -> None:
        super().__init__(detail)
        self.scope = scope  # "pool", "queue" or "paused"


class Transient(PushpoolError):
    """A dependency is throttling or briefly unavailable; retry with back-off."""

    status = 503
    retryable = True


class InfrastructureError(PushpoolError):
    """A provider could not submit, inspect or stop infrastructure."""

    status = 502

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


def unknown_key(key: object, known: Iterable[str]) -> str:
    """What to say about a key nobody reads: its nearest valid key, or the list.

    An unknown key is refused, never ignored: ``commnd:`` for ``command:``
    would otherwise apply silently and every run crash later (issue 14).
    Callers put the key's path in front.
    """
    options = sorted(known)
    close = difflib.get_close_matches(str(key), options, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; valid keys here are {', '.join(options)}"
