"""A live API over a real store, with a way to photograph the store.

The fuzz and security suites talk HTTP to uvicorn on a loopback port, as
a client of ``pushpool server`` would, with bearer tokens required.  Only
the API runs (no dispatch or tick loops), so nothing but the request under
test changes the store, and ``snapshot()`` before and after a rejected
request must be equal.

Stores: SQLite (a file; every table dumped in key order) and DynamoDB on
``ThreadedMotoServer`` over HTTP (the table scanned and sorted by key).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ports import Store
from core.services.auth import create_token
from core.store import open_store
from handlers.bootstrap import Container, Settings, bootstrap
from handlers.local.server import BackgroundServer, bind

STORES = ["sqlite", "dynamodb"]
SIGNING_KEY = b"fuzz-signing-key-0123456789abcdef"


@dataclass
class LiveApi:
    kind: str
    url: str  # .../api
    container: Container
    admin: str
    snapshot: Callable[[], Any]
    clients: list[httpx.Client] = field(default_factory=list)
    deployment_id: str = ""  # set by ``seed_deployment``

    @property
    def store(self) -> Store:
        return self.container.store

    @property
    def origin(self) -> str:
        return self.url.removesuffix("/api")

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def token(self, scope: str, **kwargs: Any) -> str:
        ids = self.container.ids
        return create_token(
            self.store,
            scope=scope,
            secret="t" * 8 + ids().replace("-", "") + ids().replace("-", ""),
            token_id=ids(),
            now=self.container.clock(),
            **kwargs,
        )

    def run_token(self, run_id: str) -> str:
        return self.container.run_token(run_id)


def sqlite_snapshot(path: Path) -> Callable[[], Any]:
    def snapshot() -> Any:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            tables = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"'))) for t in tables}

    return snapshot


def dynamodb_snapshot(table: str) -> Callable[[], Any]:
    """Every item of the table, read from the moto server's backend.

    ``ThreadedMotoServer`` runs in this process, so its tables are readable
    directly: a scan over HTTP would be the same items, many times slower.
    It is read between requests, when nothing else writes.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    def snapshot() -> Any:
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        items = backend.get_table(table).all_items()
        return sorted(json.dumps(i.to_json(), sort_keys=True, default=repr) for i in items)

    return snapshot


@contextmanager
def _sqlite() -> Iterator[tuple[Store, Callable[[], Any], str]]:
    with tempfile.TemporaryDirectory(prefix="pushpool-fuzz-") as tmp:
        path = Path(tmp) / "pushpool.db"
        url = f"sqlite:///{path}"
        yield open_store(url), sqlite_snapshot(path), url


@contextmanager
def _dynamodb() -> Iterator[tuple[Store, Callable[[], Any], str]]:
    import boto3

    from core.store.dynamodb import create_table
    from tests.contract.backends import running_moto_server, use_moto_environment

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log
    with pytest.MonkeyPatch.context() as patch, running_moto_server() as endpoint:
        use_moto_environment(patch, endpoint=endpoint)
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        create_table(client, "fuzz")
        url = "dynamodb://fuzz"
        yield open_store(url), dynamodb_snapshot("fuzz"), url


@contextmanager
def live_api(kind: str) -> Iterator[LiveApi]:
    opener = _sqlite if kind == "sqlite" else _dynamodb
    with opener() as (store, snapshot, url):
        settings = Settings(store_url=url, auth=True, run_token_key=SIGNING_KEY)
        container = bootstrap(store=store, settings=settings)
        sock = bind("127.0.0.1", 0)
        server = BackgroundServer(container, sock)
        server.start()
        api_url = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
        live = LiveApi(kind=kind, url=api_url, container=container, admin="", snapshot=snapshot)
        live.admin = live.token("admin")
        try:
            yield live
        finally:
            for client in live.clients:
                client.close()
            server.stop()


def seed_deployment(api: LiveApi, pool: str) -> None:
    """A process pool ``pool`` with one deployment, for requests that need one to exist."""
    http = api.client(api.admin)
    assert http.post("/work_pools/", json={"name": pool, "type": "process"}).is_success
    flow = http.post("/flows/", json={"name": f"{pool}-flow"}).json()
    body = {"name": "dep", "flow_id": flow["id"], "work_pool_name": pool}
    api.deployment_id = http.post("/deployments/", json=body).json()["id"]


def refused(live: LiveApi, send: Any, status: int = 422) -> str:
    """Send, expect ``status`` with a detail and an unchanged store; return the detail."""
    before = live.snapshot()
    response = send()
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail.strip()
    assert live.snapshot() == before
    return detail
