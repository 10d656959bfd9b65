"""The ``store`` fixture: every contract test runs against every Store adapter.

Like kopf's storage suite, the tests know only the ``core.ports.Store``
protocol; the fixture decides which adapter they exercise:

- ``sqlite``: a real SQLite file in a temporary directory;
- ``dynamodb-moto``: DynamoDB through moto in this process (``mock_aws``);
- ``dynamodb-server``: DynamoDB through moto's ``ThreadedMotoServer`` on a
  loopback port, reached over real HTTP by boto3.

The DynamoDB parameters exist once ``core.store.dynamodb`` does.  Other
suites can run on every store too: import these fixtures into their
``conftest.py`` (``from tests.contract.fixtures import *``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.ports import Store
from tests.contract import backends

__all__ = ["moto_server", "store", "store_kind", "store_url"]

PARAMS = backends.KINDS


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session; every test uses its own table."""
    with backends.running_moto_server() as url:
        yield url


@pytest.fixture(params=PARAMS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(
    store_kind: str, tmp_path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A URL other processes can open: the same store the ``store`` fixture uses."""
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if store_kind == "dynamodb-server":
        url = request.getfixturevalue("moto_server")
        backends.use_moto_environment(monkeypatch, endpoint=url)
        return backends.create_dynamodb_table()
    raise ValueError(f"{store_kind} cannot be shared between processes; use SHAREABLE_KINDS")


@pytest.fixture
def store(store_kind: str, tmp_path, monkeypatch: pytest.MonkeyPatch, request) -> Iterator[Store]:
    if store_kind == "sqlite":
        from core.store.sqlite.store import SqliteStore

        sqlite = SqliteStore(tmp_path / "store.db")
        yield sqlite
        sqlite.close()
    elif store_kind == "dynamodb-moto":
        backends.use_moto_environment(monkeypatch, endpoint=None)
        with backends.mock_aws():
            yield backends.open_dynamodb(backends.create_dynamodb_table())
    else:
        url = request.getfixturevalue("moto_server")
        backends.use_moto_environment(monkeypatch, endpoint=url)
        yield backends.open_dynamodb(backends.create_dynamodb_table())
