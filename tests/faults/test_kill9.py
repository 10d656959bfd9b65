"""``kill -9`` at random points (issue 13): nothing lost, nothing run twice.

Each trial kills a real ``pushpool worker start`` process (or a real
``pushpool server --with-worker``) with SIGKILL at a random moment while runs
are claimed, starting and running, then starts its replacement, and checks
once the liveness bound has passed (design §3, docs/decisions.md "Liveness
bounds"): no run still held from before the kill, slot counters equal to
the runs holding slots.  Throughout, a watcher looks for a run with two
live processes and plays an operator sending RUNNING runs back to
SCHEDULED.  At the end every run is terminal and no slot is held.

The pool's heartbeat timeout is 3 s here (90 s by default), so the bound is
3 s + the server's 5 s tick + a poll.  Run alone: ``pytest -m faults``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest

from providers.registry import REGISTRY
from tests.faults.support import (
    HELD,
    TERMINAL,
    Flows,
    Watch,
    problems,
    runs,
    start_worker,
    wait_for,
)
from tests.servers import ServerProcess

pytestmark = [pytest.mark.faults, pytest.mark.slow]

HEARTBEAT_TIMEOUT = 3
BOUND = HEARTBEAT_TIMEOUT + 5 + 4  # timeout, the server's tick, polls and slack
TRIALS = 3
RUNS = 15
FLOW_SECONDS = 2.5
POOL = "faults"


def make_pool(http: httpx.Client, flows: Flows, tmp_path: Path) -> None:
    template = REGISTRY.default_template("process")
    properties = template["variables"]["properties"]
    properties["heartbeat_timeout_seconds"] = {"type": "integer", "default": HEARTBEAT_TIMEOUT}
    body = {"name": POOL, "type": "process", "concurrency_limit": 3, "base_job_template": template}
    assert http.post("/work_pools/", json=body).status_code == 201
    flow = http.post("/flows/", json={"name": "flow"}).json()
    command = flows.command(tmp_path / "flow.py", FLOW_SECONDS)
    deployment = {"name": "d", "flow_id": flow["id"], "work_pool_name": POOL, "command": command}
    created = http.post("/deployments/", json=deployment)
    assert created.status_code == 201, created.text
    for _ in range(RUNS):
        path = f"/deployments/{created.json()['id']}/create_flow_run"
        assert http.post(path, json={}).status_code == 201


def busy(http: httpx.Client, rng: random.Random) -> int:
    """Once runs are held, a random moment later: how many are held then."""
    wait_for(lambda: runs(http, POOL, HELD), timeout=30)
    time.sleep(rng.uniform(0.0, 2.5))
    return len(runs(http, POOL, HELD))


def settle(http: httpx.Client, *, killed_at: float) -> None:
    """Within the bound, what the dead owner held is ended and counted right."""
    left = wait_for(lambda: not problems(http, POOL, killed_at=killed_at), timeout=BOUND)
    assert left, problems(http, POOL, killed_at=killed_at)


def drained(http: httpx.Client, watch: Watch) -> None:
    """Finally every run ends and no slot is held; no run was ever sent back
    to SCHEDULED while running, nor ran twice at once."""
    assert watch.sent_back == [], "RUNNING runs went back to SCHEDULED"
    assert watch.twice == [], "a run had two live processes at once"
    done = wait_for(lambda: not runs(http, POOL, (*HELD, "SCHEDULED")), timeout=60)
    assert watch.twice == [], "a run had two live processes at once"
    assert done, [(r["name"], r["state_type"]) for r in runs(http, POOL)]
    assert {r["state_type"] for r in runs(http, POOL)} <= set(TERMINAL)
    assert http.get(f"/work_pools/{POOL}").json()["active_slots"] == 0


def test_killing_pull_workers_at_random_loses_no_slot_and_runs_nothing_twice(
    store_url: str, tmp_path: Path
):
    rng = random.Random()
    server = ServerProcess(store=store_url, log=tmp_path / "server.log")
    api = server.url
    flows = Flows(tmp_path / "flows.jsonl")
    http = httpx.Client(base_url=api, timeout=10)
    try:
        make_pool(http, flows, tmp_path)
        # Even trials restart under the same name (the worker reconciles),
        # odd ones under a new name (the heartbeat timeout ends its claims).
        names = ["w0", "w0", "w1", "w1"]
        worker = start_worker(api, POOL, names[0], tmp_path / "w0.log")
        held_at_kills = 0
        with Watch(flows, POOL, lambda: api) as watch:
            for trial in range(TRIALS):
                held_at_kills += busy(http, rng)
                worker.kill9()
                killed_at = time.time()
                name = names[trial + 1]
                worker = start_worker(api, POOL, name, tmp_path / f"w{trial + 1}.log")
                settle(http, killed_at=killed_at)
            drained(http, watch)
        assert worker.stop() == 0, worker.text()
        assert held_at_kills > 0, "no kill hit a worker holding runs: the trials tested nothing"
    finally:
        http.close()
        server.stop()


def test_killing_the_server_with_its_worker_at_random_loses_no_slot(store_url: str, tmp_path: Path):
    rng = random.Random()
    log = tmp_path / "server.log"
    server = ServerProcess("--with-worker", store=store_url, log=log)
    api = server.url
    flows = Flows(tmp_path / "flows.jsonl")
    current = {"api": api}
    try:
        with httpx.Client(base_url=api, timeout=10) as http:
            make_pool(http, flows, tmp_path)
        held_at_kills = 0
        with Watch(flows, POOL, lambda: current["api"]) as watch:
            for _ in range(TRIALS):
                with httpx.Client(base_url=current["api"], timeout=10) as http:
                    held_at_kills += busy(http, rng)
                server.kill9()
                killed_at = time.time()
                server = ServerProcess("--with-worker", store=store_url, log=log)
                current["api"] = server.url
                with httpx.Client(base_url=current["api"], timeout=10) as http:
                    settle(http, killed_at=killed_at)
            with httpx.Client(base_url=current["api"], timeout=10) as http:
                drained(http, watch)
        assert held_at_kills > 0, "no kill hit a server holding runs: the trials tested nothing"
    finally:
        server.stop()
