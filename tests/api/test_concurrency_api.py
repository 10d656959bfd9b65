"""Several workers claiming at once through two API servers on one store never
exceed a limit and never claim a run twice (Prefect's issue 14869)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.contract import backends
from tests.contract.fixtures import moto_server, store_url
from tests.servers import ROOT, ServerProcess

__all__ = ["moto_server", "store_url"]

POOL_LIMIT, QUEUE_LIMIT, RUNS, WORKERS = 3, 1, 24, 6


@pytest.fixture(params=backends.SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def server_environment(home: Path) -> dict[str, str]:
    return {**os.environ, "XDG_DATA_HOME": str(home), "PYTHONPATH": str(ROOT)}


class Observed:
    """Runs the workers hold, as they see it: a claim counts from the ACCEPT
    until just before its terminal state is proposed, so the server's real
    count is always at least this one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holding: Counter[str] = Counter()
        self.max_pool = 0
        self.max_queue: Counter[str] = Counter()
        self.claims: Counter[str] = Counter()

    def take(self, run_id: str, queue: str) -> None:
        with self.lock:
            self.claims[run_id] += 1
            self.holding[queue] += 1
            self.max_pool = max(self.max_pool, sum(self.holding.values()))
            self.max_queue[queue] = max(self.max_queue[queue], self.holding[queue])

    def give_back(self, queue: str) -> None:
        with self.lock:
            self.holding[queue] -= 1


def work(url: str, observed: Observed, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            offers = http.post("/work_pools/p/get_scheduled_flow_runs", json={}).json()
            for offer in offers:
                run = offer["flow_run"]
                claim = http.post(
                    f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "PENDING"}}
                )
                if claim.json()["status"] != "ACCEPT":
                    continue
                observed.take(run["id"], run["work_queue_name"])
                time.sleep(0.01)
                observed.give_back(run["work_queue_name"])
                http.post(
                    f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "COMPLETED"}}
                )
            if not offers:
                time.sleep(0.01)


def seed(http: httpx.Client) -> list[str]:
    """A pool (limit 3) with a narrow queue (limit 1) and RUNS runs due now."""
    pool = {"name": "p", "type": "process", "concurrency_limit": POOL_LIMIT}
    http.post("/work_pools/", json=pool)
    narrow = {"name": "narrow", "priority": 1, "concurrency_limit": QUEUE_LIMIT}
    http.post("/work_pools/p/queues", json=narrow)
    flow = http.post("/flows/", json={"name": "f"}).json()
    body = {"name": "d", "flow_id": flow["id"], "work_pool_name": "p"}
    deployment = http.post("/deployments/", json=body).json()
    path = f"/deployments/{deployment['id']}/create_flow_run"
    queues = ["narrow" if i % 3 == 0 else "default" for i in range(RUNS)]
    return [http.post(path, json={"work_queue_name": q}).json()["id"] for q in queues]


def completed(http: httpx.Client) -> set[str]:
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "limit": 1000}
    return {r["id"] for r in http.post("/flow_runs/filter", json=body).json()}


@pytest.mark.slow
def test_concurrent_workers_on_two_servers_never_exceed_limits(
    store_url: str, tmp_path: Path, pushpool_server: Callable[..., ServerProcess]
):
    first, second = (
        pushpool_server(store=store_url, env=server_environment(tmp_path / home))
        for home in ("a", "b")
    )
    with httpx.Client(base_url=first.url, timeout=30) as http:
        ids = seed(http)
        observed, stop = Observed(), threading.Event()
        workers = [
            threading.Thread(target=work, args=(first.url if i % 2 else second.url, observed, stop))
            for i in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        done: set[str] = set()
        while time.monotonic() < deadline and len(done) < RUNS:
            time.sleep(0.2)
            done = completed(http)
        stop.set()
        for worker in workers:
            worker.join(30)
        status = http.post("/work_pools/p/concurrency_status", json={}).json()
    assert done == set(ids)
    assert all(count == 1 for count in observed.claims.values()), observed.claims
    assert set(observed.claims) == set(ids)
    assert observed.max_pool <= POOL_LIMIT
    assert observed.max_queue["narrow"] <= QUEUE_LIMIT
    assert status["active_slots"] == 0
