from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pushpool import Client
from tests.api.support import Env, LiveApi, make_env, start_api


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    yield from start_api()


@pytest.fixture
def env(live_api: LiveApi, tmp_path: Path) -> Env:
    return make_env(live_api, tmp_path)


@pytest.fixture
def api(env: Env) -> Iterator[Client]:
    with Client(env.api.url, timeout=10) as client:
        yield client
