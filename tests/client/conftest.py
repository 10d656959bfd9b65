from __future__ import annotations

from collections.abc import Iterator

import pytest

from pushpool import Client
from tests.api.support import Env


@pytest.fixture
def api(env: Env) -> Iterator[Client]:
    with Client(env.api.url, timeout=10) as client:
        yield client
