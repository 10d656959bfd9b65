"""How the contract suite reaches each backend: moto setup and table creation."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from moto import mock_aws

from core.ports import Store
from tests.contract.moto_serial import serialize_moto_dynamodb

__all__ = ["mock_aws"]

REGION = "us-east-1"

# The stores every contract test runs on; DynamoDB's exist once its adapter does.
KINDS = ["sqlite"]
if importlib.util.find_spec("core.store.dynamodb") is not None:
    KINDS += ["dynamodb-moto", "dynamodb-server"]
# Those that several processes can open by URL (moto in-process is private).
SHAREABLE_KINDS = [kind for kind in KINDS if kind != "dynamodb-moto"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def use_moto_environment(monkeypatch: pytest.MonkeyPatch, *, endpoint: str | None) -> None:
    """Fake credentials and region; an endpoint for the moto server if given.

    Child processes inherit the environment, so they reach the same server.
    """
    serialize_moto_dynamodb()  # moto is not linearizable by itself; see moto_serial
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)


@contextmanager
def moto_dynamodb_table(monkeypatch: pytest.MonkeyPatch, table: str) -> Iterator[Any]:
    """In-process moto with ``table`` created (as ``pushpool store init`` would);
    yields the DynamoDB client, for tests that inspect the items themselves."""
    import boto3

    from core.store.dynamodb.schema import create_table

    use_moto_environment(monkeypatch, endpoint=None)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, table)
        yield client


def create_dynamodb_table() -> str:
    """Create a fresh table (as ``pushpool store init`` would); return its store URL."""
    import boto3

    from core.store.dynamodb.schema import create_table

    table = f"pushpool-{uuid4().hex[:12]}"
    create_table(boto3.client("dynamodb"), table)
    return f"dynamodb://{table}"


def open_dynamodb(url: str) -> Store:
    from core.store import open_store

    store: Any = open_store(url)
    return store  # type: ignore[no-any-return]
