"""The fault suite runs on SQLite and on DynamoDB (moto's server over HTTP),
each store shared with the child processes by URL."""

from __future__ import annotations

import pytest

from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.fixtures import moto_server, store_url

__all__ = ["moto_server", "store_kind", "store_url"]


@pytest.fixture(params=SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
