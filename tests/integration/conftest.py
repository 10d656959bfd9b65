"""Service tests run on the real stores, through the contract suite's fixtures.

Every integration test gets a ``store`` on SQLite and, once
``core.store.dynamodb`` exists, on DynamoDB through in-process moto.  The
store's behaviour over moto's HTTP server is the contract suite's business;
here only the cross-process test uses the server (``SHAREABLE_KINDS``),
since in-process moto cannot be shared between processes.
"""

from __future__ import annotations

import pytest

from tests.contract.backends import KINDS
from tests.contract.fixtures import moto_server, store, store_url

IN_PROCESS_KINDS = [kind for kind in KINDS if kind != "dynamodb-server"]

__all__ = ["moto_server", "store", "store_kind", "store_url"]


@pytest.fixture(params=IN_PROCESS_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
