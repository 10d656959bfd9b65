"""What one worker holds right now: the runs it claimed, until each is done.

The ledger is the worker's own ``--limit``: a run takes a place here when
its claim is accepted and gives it back once nothing of it is left to watch
(final state reported, handed back, or crashed).  The pool's and queues'
limits are the API's business (the claim is atomic there); this one is
about what this host can run at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Execution:
    """One claimed run, from the claim until the worker lets go of it."""

    run_id: str
    attempt: int
    run_name: str
    scheduled_time: datetime | None
    infra_id: str | None = None
    stopping_infra: bool = False  # a stop is in flight (cancel, or abandon at shutdown)

    @property
    def key(self) -> tuple[str, int]:
        """(run id, attempt): a run handed back and claimed anew is a new entry."""
        return (self.run_id, self.attempt)

    @property
    def started(self) -> bool:
        return self.infra_id is not None


class Ledger:
    """The worker's claimed runs, bounded by ``limit`` (None = unbounded)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, int], Execution] = {}
        self.freed = threading.Event()  # set whenever a place frees: poll again now

    def free(self) -> int | None:
        """Places left, or None without a limit."""
        with self._lock:
            return None if self.limit is None else max(self.limit - len(self._runs), 0)

    def add(self, execution: Execution) -> None:
        with self._lock:
            self._runs[execution.key] = execution

    def release(self, execution: Execution) -> None:
        with self._lock:
            held = self._runs.get(execution.key) is execution
            if held:
                del self._runs[execution.key]
        if held:
            self.freed.set()

    def started(self) -> list[Execution]:
        """Runs whose infrastructure exists (the monitor watches these)."""
        with self._lock:
            return [e for e in self._runs.values() if e.started]

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
