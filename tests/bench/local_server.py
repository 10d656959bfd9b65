"""``pushpool server`` in this process, for benchmarks: API, dispatch, tick, observe.

It is exactly what ``pushpool server --with-worker`` builds
(``handlers.local.server.build``), bound to a free loopback port, with one
override: pools of ``pool_type`` are served by the given provider, the seam
the latency benchmarks measure up to.  A push type (``ecs:push``) goes
through the dispatch loop; ``process`` through the in-process pull worker.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from core.ports import Provider
from handlers.bootstrap import Settings
from handlers.local.server import BackgroundServer, Stack, build


@dataclass
class Running:
    stack: Stack
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.stack.url


@contextmanager
def local_server(
    provider: Provider,
    *,
    pool_type: str = "ecs:push",
    store_url: str | None = None,
    tick_seconds: float = 5.0,
    timeout: float = 30.0,
) -> Iterator[Running]:
    with tempfile.TemporaryDirectory(prefix="pushpool-bench-") as tmp:
        url = store_url or f"sqlite:///{Path(tmp) / 'pushpool.db'}"
        settings = Settings(store_url=url, auth=False, run_token_key=b"b" * 32)
        stack = build(
            host="127.0.0.1",
            port=0,
            store_url=url,
            with_worker=True,
            tick_seconds=tick_seconds,
            settings=settings,
            providers={pool_type: provider},
        )
        stack.container.store  # create the schema before the first request  # noqa: B018
        server = BackgroundServer(stack.container, stack.sock)
        server.start()
        stack.loops.start()
        http = httpx.Client(base_url=stack.url, timeout=timeout)
        try:
            yield Running(stack=stack, http=http)
        finally:
            http.close()
            server.stop()
            stack.loops.stop()


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text}"
        )
    return response.json() if response.content else None


def make_deployment(
    http: httpx.Client, pool: str, *, pool_type: str = "ecs:push", limit: int | None = None
) -> str:
    """A pool (served by this process) with one deployment; its id."""
    body = {"name": pool, "type": pool_type, "concurrency_limit": limit}
    ok(http.post("/work_pools/", json=body))
    flow = ok(http.post("/flows/", json={"name": "bench-flow"}))
    body = {"name": f"{pool}-deployment", "flow_id": flow["id"], "work_pool_name": pool}
    return str(ok(http.post("/deployments/", json=body))["id"])
