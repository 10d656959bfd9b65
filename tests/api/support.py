"""A live API for tests: uvicorn on a free loopback port, in a thread.

One server per test module; each test gets a fresh container (its own
SQLite file, clock and settings) swapped into the running app, so tests
are isolated but pay for uvicorn's start once.  ``local_server`` is the
whole local stack instead (``pushpool server``'s loops too), one per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from core.ports import Store
from core.services.auth import create_token
from core.store import open_store
from handlers.bootstrap import Container, Settings, bootstrap
from handlers.local.asgi import ApiApp
from handlers.local.server import BackgroundServer, Stack, bind, build
from tests.clock import ShiftedClock


@dataclass
class LiveApi:
    url: str
    app: ApiApp
    clients: list[httpx.Client] = field(default_factory=list)

    def use(self, container: Container) -> None:
        self.app.container = container

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=10)
        self.clients.append(client)
        return client


@dataclass
class Env:
    """One test's world: the store behind the API, its clock, an HTTP client."""

    api: LiveApi
    container: Container
    clock: ShiftedClock
    http: httpx.Client

    @property
    def store(self) -> Store:
        return self.container.store

    def token(self, scope: str = "admin", **kwargs: Any) -> str:
        return create_token(
            self.store,
            scope=scope,
            secret="s" * 8 + self.container.ids() + self.container.ids(),
            token_id=self.container.ids(),
            now=self.clock(),
            **kwargs,
        )

    def as_(self, token: str | None) -> httpx.Client:
        return self.api.client(token)


def start_api() -> Iterator[LiveApi]:
    placeholder = bootstrap(settings=Settings(store_url="sqlite://", auth=False))
    sock = bind("127.0.0.1", 0)
    server = BackgroundServer(placeholder, sock)
    server.start()
    port = sock.getsockname()[1]
    api = LiveApi(url=f"http://127.0.0.1:{port}/api", app=server.app)
    try:
        yield api
    finally:
        for client in api.clients:
            client.close()
        server.stop()


@contextmanager
def local_server(
    tmp_path: Path, *, loops: bool = True, **options: Any
) -> Iterator[tuple[Stack, httpx.Client]]:
    """``pushpool server`` in this process over a fresh SQLite file, and a client of its API.

    ``options`` go to ``build`` (``with_worker``, ``tick_seconds``, ``providers``);
    with ``loops=False`` the tick, dispatch and observe loops are not started
    and a test asks for each pass itself.  Everything stops on leaving.
    """
    stack = build(port=0, store_url=f"sqlite:///{tmp_path / 'local.db'}", **options)
    server = BackgroundServer(stack.container, stack.sock)
    server.start()
    if loops:
        stack.loops.start()
    http = httpx.Client(base_url=stack.url, timeout=10)
    try:
        yield stack, http
    finally:
        http.close()
        stack.loops.stop()
        server.stop()


def make_env(
    api: LiveApi, tmp_path: Path, *, auth: bool = False, store_url: str | None = None
) -> Env:
    clock = ShiftedClock()
    url = store_url or f"sqlite:///{tmp_path / 'pushpool.db'}"
    settings = Settings(store_url=url, auth=auth, api_url=api.url, run_token_key=b"k" * 32)
    container = bootstrap(store=open_store(url, clock=clock), clock=clock, settings=settings)
    api.use(container)
    return Env(api=api, container=container, clock=clock, http=api.client())


# -- small builders over HTTP -------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def make_pool(http: httpx.Client, name: str = "pool", **body: Any) -> dict[str, Any]:
    return ok(http.post("/work_pools/", json={"name": name, "type": "process", **body}), 201)


def make_queue(http: httpx.Client, pool: str, name: str, **body: Any) -> dict[str, Any]:
    return ok(http.post(f"/work_pools/{pool}/queues", json={"name": name, **body}), 201)


def make_deployment(
    http: httpx.Client, pool: str, *, name: str = "dep", queue: str | None = None, **body: Any
) -> dict[str, Any]:
    response = http.post("/flows/", json={"name": "flow"})
    assert response.status_code in (200, 201), response.text
    flow = response.json()
    payload = {"name": name, "flow_id": flow["id"], "work_pool_name": pool, **body}
    if queue:
        payload["work_queue_name"] = queue
    response = http.post("/deployments/", json=payload)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def make_run(
    http: httpx.Client,
    deployment_id: str,
    *,
    at: datetime | None = None,
    queue: str | None = None,
    **body: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {"type": "SCHEDULED"}
    if at is not None:
        state["state_details"] = {"scheduled_time": at.isoformat()}
    payload = {"state": state, **body}
    if queue:
        payload["work_queue_name"] = queue
    return ok(http.post(f"/deployments/{deployment_id}/create_flow_run", json=payload), 201)


def propose(
    http: httpx.Client, run_id: str, state_type: str, *, force: bool = False, **state: Any
) -> dict[str, Any]:
    response = http.post(
        f"/flow_runs/{run_id}/set_state",
        json={"state": {"type": state_type, **state}, "force": force},
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    assert (response.status_code == 201) == (body["status"] == "ACCEPT")
    return body
