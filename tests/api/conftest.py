from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import Env, LiveApi, make_env, start_api


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    yield from start_api()


@pytest.fixture
def env(live_api: LiveApi, tmp_path: Path) -> Env:
    """An open API (no auth, as `pushpool server` on loopback) over a fresh store."""
    return make_env(live_api, tmp_path)


@pytest.fixture
def secured(live_api: LiveApi, tmp_path: Path) -> Env:
    """The same API with bearer tokens required."""
    return make_env(live_api, tmp_path, auth=True)
