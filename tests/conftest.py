"""Fixtures every test directory may use; a directory's own conftest adds its own."""

from __future__ import annotations

import pytest

from tests.clock import NOW, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A settable clock at ``NOW``; ``clock.advance(minutes=5)`` moves it."""
    return FakeClock(NOW)
