"""The Lambda handler tests run over a real SQLite store in the test's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ports import Store
from core.store import open_store
from tests.clock import FakeClock


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'pushpool.db'}", clock=clock)
