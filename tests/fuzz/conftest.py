"""Every fuzz module defines its own ``live`` API (a pool of its own, seeded as it needs)."""

from __future__ import annotations

import httpx
import pytest

from tests.fuzz.live import LiveApi


@pytest.fixture
def admin(live: LiveApi) -> httpx.Client:
    """An HTTP client on the module's live API with the admin token."""
    return live.client(live.admin)
