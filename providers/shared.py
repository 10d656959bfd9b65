"""Small helpers several providers need, so they never import each other.

Naming infrastructure deterministically from an idempotency key, reading
the common job-configuration keys (command, env, labels) the same way
everywhere, deciding whether an HTTP status is worth a retry, and
remembering terminal statuses of infrastructure the provider has already
cleaned up.  No SDK is imported here.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.errors import InfrastructureError
from core.logs import truncate
from core.ports import InfraPhase, InfraStatus, LogChunk, OutputLine

_NOT_NAME = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def dns_name(key: str, *, prefix: str = "pp", max_length: int = 63) -> str:
    """A deterministic DNS-label-like name for ``key``.

    Lowercase letters, digits and single hyphens, starting with a letter
    (the prefix), not ending with a hyphen, at most ``max_length`` long —
    what Cloud Run job ids and ACI container-group names accept.  When the
    key has to be altered to fit, a hash of the original is appended so two
    keys never share a name.
    """
    cleaned = _DASHES.sub("-", _NOT_NAME.sub("-", key.lower())).strip("-")
    name = f"{prefix}-{cleaned}" if cleaned else prefix
    if name == f"{prefix}-{key}" and len(name) <= max_length:
        return name
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    head = name[: max_length - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def command_list(value: Any) -> list[str]:
    """A command as an argv list: strings are split the way a shell would."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list | tuple):
        return [str(part) for part in value]
    raise InfrastructureError(
        f"command must be a string or a list of strings, not {type(value).__name__}",
        retryable=False,
    )


def string_map(value: Any, *, what: str) -> dict[str, str]:
    """``env`` or ``labels`` as ``str -> str``, null values dropped, sorted by key."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InfrastructureError(f"{what} must be an object, not {value!r}", retryable=False)
    return {
        str(key): item if isinstance(item, str) else _text(item)
        for key, item in sorted(value.items())
        if item is not None
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flag(value: Any) -> bool:
    """A boolean job variable that may have been rendered as text."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def retryable_http_status(code: int | None) -> bool:
    """Throttling, timeouts and server errors may pass; the rest will not."""
    return code is None or code in {408, 429} or code >= 500


class TerminalMemo:
    """Terminal statuses of infrastructure this process has already deleted.

    Providers that clean up after a terminal state (Cloud Run jobs, ACI
    groups) would otherwise answer a repeated poll with "vanished".  A warm
    function instance answers from here instead; a cold one falls back to
    the provider's "gone" status, which is terminal too.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[str, InfraStatus] = OrderedDict()
        self._lock = threading.Lock()  # the local server polls from several threads

    def get(self, infra_id: str) -> InfraStatus | None:
        with self._lock:
            return self._items.get(infra_id)

    def remember(self, infra_id: str, status: InfraStatus) -> InfraStatus:
        """Keep ``status`` if it is terminal; return it either way."""
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        with self._lock:
            self._items[infra_id] = status
            self._items.move_to_end(infra_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return status


class OutputRing:
    """The last ``limit`` lines an infrastructure printed, numbered from 1.

    A provider that captures output itself (a subprocess, a container it
    attaches to) keeps it here for ``read_logs``: the cursor is the number of
    the last line read, and lines that fell out of the ring before they were
    read are reported as ``dropped``, so a slow reader never blocks the
    output and always learns how much it missed.
    """

    def __init__(self, limit: int) -> None:
        self._lines: deque[tuple[int, OutputLine]] = deque(maxlen=limit)
        self._count = 0
        self._lock = threading.Lock()

    def add(self, at: datetime, message: str) -> None:
        line = OutputLine(timestamp=at, message=truncate(message))
        with self._lock:
            self._count += 1
            self._lines.append((self._count, line))

    def read(self, after: str | None) -> LogChunk:
        done = int(after) if after and after.isdigit() else 0
        with self._lock:
            fresh = [(number, line) for number, line in self._lines if number > done]
        if not fresh:
            return LogChunk(cursor=str(done))
        return LogChunk(
            lines=tuple(line for _, line in fresh),
            cursor=str(fresh[-1][0]),
            dropped=fresh[0][0] - done - 1,
        )
