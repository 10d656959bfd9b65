"""In-process wake-ups per pool, for the long-poll of ``get_scheduled_flow_runs``.

A pull worker may ask the local server to hold its poll (``wait_seconds``)
until something of its pool may have become due.  The local trigger calls
:meth:`Wakeups.signal` on everything that asks for a dispatch pass (a run
created or set back to SCHEDULED, a slot freed, a pool or queue resumed, a
scheduled run coming due), so a parked poll re-reads the waterfall at once.

Each pool has a generation counter: a waiter reads it *before* reading the
store and waits for it to move, so a signal that lands between the read and
the wait is never lost.  Parked polls each hold a server thread, so only
``max_waiters`` may park at once; beyond that a poll answers at once, as if
it had not asked to wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAITERS = 16
# Well under the 29 s API Gateway gives a request, and the 30 s client timeout.
MAX_WAIT_SECONDS = 20.0


class Wakeups:
    def __init__(self, *, max_waiters: int = MAX_WAITERS) -> None:
        self._cond = threading.Condition()
        self._generations: dict[str, int] = {}
        self._parked = 0
        self._closed = False
        self.max_waiters = max_waiters

    def generation(self, pool_name: str) -> int:
        with self._cond:
            return self._generations.get(pool_name, 0)

    def signal(self, pool_name: str) -> None:
        with self._cond:
            self._generations[pool_name] = self._generations.get(pool_name, 0) + 1
            self._cond.notify_all()

    def close(self) -> None:
        """Release every parked poll (the server is stopping); none parks again."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @contextmanager
    def parking(self) -> Iterator[bool]:
        """A place to park, if one is free: yields whether the caller may wait."""
        with self._cond:
            allowed = not self._closed and self._parked < self.max_waiters
            if allowed:
                self._parked += 1
        try:
            yield allowed
        finally:
            if allowed:
                with self._cond:
                    self._parked -= 1

    def wait(self, pool_name: str, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the pool's generation to move past
        ``seen``; True if it did (re-read the store), False on timeout or close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed and self._generations.get(pool_name, 0) == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return not self._closed
