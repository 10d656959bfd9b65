"""The clocks tests hand to the code under test, in one place.

Domain code takes its time from an injected clock (see docs/style.md), so a
test decides what "now" is.  ``FakeClock`` is the one settable wall clock
(the root ``conftest.py`` gives every test one as the ``clock`` fixture,
starting at ``NOW``); ``FakeMonotonic`` stands in for ``time.monotonic``
where code measures intervals; ``ShiftedClock`` is real time moved forward,
for a live server whose statuses depend on how late a run is.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.contract.builders import NOW

__all__ = ["NOW", "FakeClock", "FakeMonotonic", "ShiftedClock"]


class FakeClock:
    """A settable clock; thread-safe so concurrent tests can share it."""

    def __init__(self, now: datetime = NOW) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **kwargs: float) -> datetime:
        """Move forward by ``timedelta(**kwargs)`` and return the new now."""
        with self._lock:
            self._now += timedelta(**kwargs)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


class FakeMonotonic:
    """Seconds that only move when a test says so, for ``monotonic=`` arguments."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, seconds: float) -> None:
        with self._lock:
            self._now = seconds


class ShiftedClock:
    """Real time, shifted by ``advance`` (statuses and lateness depend on it)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, **kwargs: float) -> None:
        with self._lock:
            self._offset += timedelta(**kwargs)
