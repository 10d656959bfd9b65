"""Load and soak (opt-in): many workers and API clients on one pool, loopback only.

``python -m tests.bench load`` starts ``pushpool server`` as its own process
(``python -m handlers.cli server``, SQLite, loopback), so the load
generator's threads do not compete with it for the GIL, and aims at one
pull pool (type ``docker``, which the server does not serve itself) with a
pool limit and two capped queues:

* W pull workers, each an HTTP client doing what a Prefect worker does:
  heartbeat, ``get_scheduled_flow_runs``, claim by proposing PENDING, report
  RUNNING, hold the slot a while, report COMPLETED;
* C API clients creating runs at a fixed total rate over the three queues
  and reading (run filter, pool, concurrency status);
* a sampler reading the store's slot holders every 50 ms (the same SQLite
  file, opened by this process);
* a probe timing ``POST /flow_runs/filter`` at a steady rate, first on the
  idle server, then under load.

It reports whether the limits held at every sample, the probe's p99 under
load against 5x its unloaded value, and whether every created run ended
COMPLETED exactly once.  Latencies are recorded after a warm-up (threads
starting, connections opening).  It never asserts: the figures are the result.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.ports import Store
from core.states import StateType
from tests.bench.harness import (
    Benchmark,
    Figure,
    Option,
    Result,
    Stopwatch,
    percentile,
    progress,
)
from tests.bench.local_server import ok

POOL, POOL_LIMIT = "load", 8
WARM_UP = 5.0
QUEUES = {"default": None, "fast": 3, "slow": 4}  # name -> limit


@dataclass
class Shared:
    stop: threading.Event = field(default_factory=threading.Event)  # everyone
    stop_creating: threading.Event = field(default_factory=threading.Event)  # API clients
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: set[str] = field(default_factory=set)
    executed: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    peaks: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    recording: threading.Event = field(default_factory=threading.Event)  # after warm-up

    def timed(self, route: str, send: Any) -> httpx.Response:
        started = time.perf_counter()
        response: httpx.Response = send()
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            if self.recording.is_set():
                self.latencies.setdefault(route, []).append(elapsed)
            if response.status_code >= 500:
                self.errors[f"{route} {response.status_code}"] += 1
        return response


def propose(http: httpx.Client, shared: Shared, run_id: str, state: str) -> bool:
    answer = shared.timed(
        "set_state",
        lambda: http.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": state}}),
    )
    return answer.status_code == 201


def worker(url: str, name: str, shared: Shared, hold: float, poll: float) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        beat = 0.0
        while not shared.stop.is_set():
            if time.monotonic() - beat > 10:
                shared.timed(
                    "heartbeat",
                    lambda: http.post(f"/work_pools/{POOL}/workers/heartbeat", json={"name": name}),
                )
                beat = time.monotonic()
            offered = shared.timed(
                "get_scheduled_flow_runs",
                lambda: http.post(f"/work_pools/{POOL}/get_scheduled_flow_runs", json={"limit": 5}),
            )
            for item in offered.json() if offered.status_code == 200 else []:
                run_id = item["flow_run"]["id"]
                if not propose(http, shared, run_id, "PENDING"):
                    continue  # another worker won it, or a limit is reached
                with shared.lock:
                    shared.executed[run_id] += 1
                propose(http, shared, run_id, "RUNNING")
                shared.stop.wait(hold * random.uniform(0.5, 1.5))
                propose(http, shared, run_id, "COMPLETED")
                break
            else:
                shared.stop.wait(poll)


def client(url: str, deployment_id: str, shared: Shared, interval: float) -> None:
    queues = list(QUEUES)
    with httpx.Client(base_url=url, timeout=30) as http:
        while not shared.stop_creating.is_set():
            body = {"state": {"type": "SCHEDULED"}, "work_queue_name": random.choice(queues)}
            created = shared.timed(
                "create_flow_run",
                lambda body=body: http.post(
                    f"/deployments/{deployment_id}/create_flow_run", json=body
                ),
            )
            if created.status_code == 201:
                with shared.lock:
                    shared.created.add(created.json()["id"])
            read = random.choice(["filter", "pool", "status"])
            if read == "filter":
                shared.timed(
                    "read: flow_runs/filter",
                    lambda: http.post("/flow_runs/filter", json={"limit": 20}),
                )
            elif read == "pool":
                shared.timed("read: work_pool", lambda: http.get(f"/work_pools/{POOL}"))
            else:
                shared.timed(
                    "read: concurrency_status",
                    lambda: http.post(f"/work_pools/{POOL}/concurrency_status", json={}),
                )
            shared.stop_creating.wait(interval * random.uniform(0.5, 1.5))


@contextmanager
def server_process() -> Iterator[tuple[str, Store]]:
    """``pushpool server`` on a free loopback port; its URL and its store, opened here too."""
    from core.store import open_store
    from tests.servers import ServerProcess

    with tempfile.TemporaryDirectory(prefix="pushpool-load-") as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'pushpool.db'}"
        env = {**os.environ, "PUSHPOOL_AUTH": "off"}
        log = Path(tmp) / "server.log"
        with ServerProcess(store=store_url, env=env, log=log) as server:
            yield server.url, open_store(store_url)


def sampler(store: Store, shared: Shared, until: threading.Event) -> None:
    pool = store.get_pool(POOL)
    limits = {q.id: (q.name, q.concurrency_limit) for q in store.list_queues(pool.id)}
    while not until.is_set():
        active = store.list_active(pool.id)
        by_queue = Counter(r.work_queue_id for r in active)
        shared.peaks["pool"] = max(shared.peaks["pool"], len(active))
        if len(active) > POOL_LIMIT:
            shared.violations.append(f"pool held {len(active)} slots > {POOL_LIMIT}")
        for queue_id, held in by_queue.items():
            name, limit = limits[queue_id]
            shared.peaks[name] = max(shared.peaks[name], held)
            if limit is not None and held > limit:
                shared.violations.append(f"queue {name} held {held} > {limit}")
        until.wait(0.05)


def probe(url: str, samples: list[float], stop: threading.Event, every: float) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            http.post("/flow_runs/filter", json={"limit": 20}).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
            stop.wait(every)


def setup(http: httpx.Client) -> str:
    ok(
        http.post(
            "/work_pools/", json={"name": POOL, "type": "docker", "concurrency_limit": POOL_LIMIT}
        )
    )
    for name, limit in QUEUES.items():
        if name != "default":
            ok(
                http.post(
                    f"/work_pools/{POOL}/queues", json={"name": name, "concurrency_limit": limit}
                )
            )
    flow = ok(http.post("/flows/", json={"name": "load"}))
    body = {"name": "load", "flow_id": flow["id"], "work_pool_name": POOL}
    return str(ok(http.post("/deployments/", json=body))["id"])


def threads(targets: list[tuple[Any, tuple[Any, ...]]]) -> list[threading.Thread]:
    started = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
    for thread in started:
        thread.start()
    return started


def run(options: dict[str, Any]) -> Result:
    seconds, workers, clients = (int(options[k]) for k in ("seconds", "workers", "clients"))
    rate, hold = float(options["runs_per_second"]), float(options["hold_seconds"])
    shared = Shared()
    with server_process() as (url, store), httpx.Client(base_url=url, timeout=30) as http:
        deployment_id = setup(http)
        idle: list[float] = []
        quiet = threading.Event()
        (unloaded,) = threads([(probe, (url, idle, quiet, 0.02))])
        quiet.wait(5)
        quiet.set()
        unloaded.join()
        progress(f"unloaded probe: {len(idle)} requests, p99 {percentile(idle, 99):.1f} ms")
        sampling = threading.Event()
        loaded: list[float] = []
        background = threads(
            [(sampler, (store, shared, sampling))]
            + [(worker, (url, f"w{i}", shared, hold, 0.5)) for i in range(workers)]
            + [(client, (url, deployment_id, shared, clients / rate)) for _ in range(clients)]
        )
        clock = Stopwatch()
        shared.stop.wait(WARM_UP)
        shared.recording.set()
        background += threads([(probe, (url, loaded, shared.stop, 0.1))])
        shared.stop.wait(max(seconds - WARM_UP, 1))
        shared.stop_creating.set()
        created_under_load = len(shared.created)
        _drain(store, float(options["drain_seconds"]))
        drained = clock.seconds
        shared.stop.set()
        for thread in background:
            thread.join(timeout=30)
        sampling.set()
        outcome = _outcome(store, shared)
    return _result(
        options,
        shared=shared,
        idle=idle,
        loaded=loaded,
        outcome=outcome,
        created_under_load=created_under_load,
        drained=drained,
    )


def _drain(store: Store, seconds: float) -> None:
    """With creation stopped, let the workers finish every run (bounded)."""
    pool_id = store.get_pool(POOL).id
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = store.list_runs(
            pool_id=pool_id,
            state_types=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING],
            limit=1,
        )
        if not left:
            return
        time.sleep(0.5)


def _outcome(store: Store, shared: Shared) -> dict[str, int]:
    ends = Counter(store.get_run(run_id).state.type.value for run_id in shared.created)
    return {
        "created": len(shared.created),
        "completed": ends.get("COMPLETED", 0),
        "not completed": len(shared.created) - ends.get("COMPLETED", 0),
        "executed twice": sum(1 for n in shared.executed.values() if n > 1),
    }


def _result(
    options: dict[str, Any],
    *,
    shared: Shared,
    idle: list[float],
    loaded: list[float],
    outcome: dict[str, int],
    created_under_load: int,
    drained: float,
) -> Result:
    ratio = percentile(loaded, 99) / percentile(idle, 99)
    figures = [
        Figure.of("probe unloaded (flow_runs/filter)", idle, unit="ms", percentiles=(50, 99)),
        Figure.of("probe under load", loaded, unit="ms", percentiles=(50, 99)),
        Figure.exact("p99 under load / p99 unloaded", round(ratio, 2), unit="x", note="bar: <= 5"),
        *[
            Figure.of(route, values, unit="ms", percentiles=(50, 95, 99))
            for route, values in sorted(shared.latencies.items())
        ],
        *[Figure.exact(f"runs {name}", value, unit="runs") for name, value in outcome.items()],
        Figure.exact("limit violations seen", len(shared.violations), unit="samples"),
        *[
            Figure.exact(f"peak slots: {name}", peak, unit="slots")
            for name, peak in sorted(shared.peaks.items())
        ],
        Figure.exact("5xx answers", sum(shared.errors.values()), unit="answers"),
    ]
    limits = ", ".join(
        f"{n} {lim if lim is not None else 'unlimited'}" for n, lim in QUEUES.items()
    )
    return Result(
        name="load",
        title="load and soak on pushpool server (SQLite), loopback",
        repetitions=f"one run of {options['seconds']} s of load, then a drain "
        f"({drained:.0f} s in all)",
        figures=figures,
        notes=[
            f"{options['workers']} pull workers, {options['clients']} API clients creating "
            f"{options['runs_per_second']} runs/s in all; each run holds its slot "
            f"{options['hold_seconds']} s (±50%); pool limit {POOL_LIMIT}; queues: {limits}",
            f"{created_under_load} runs created during the load; "
            f"limits {'held at every sample' if not shared.violations else 'BROKEN: ' + shared.violations[0]}",
            f"pushpool server in its own process; latencies recorded after a {WARM_UP:.0f} s "
            "warm-up; the API serves one request at a time per process (the resolver is not "
            "re-entrant), so queueing behind other requests is most of the loaded latency",
        ],
    )


BENCHMARKS = [
    Benchmark(
        name="load",
        title="load and soak: workers and clients on one pool (opt-in, <= 5 min)",
        run=run,
        opt_in=True,
        options=(
            Option("seconds", 60, 240, "seconds of load"),
            Option("workers", 16, 32, "pull workers"),
            Option("clients", 8, 16, "API clients"),
            Option("runs_per_second", 10.0, 10.0, "runs created per second in all"),
            Option("hold_seconds", 1.0, 1.0, "how long a run holds its slot"),
            Option("drain_seconds", 60.0, 60.0, "longest wait for the last runs"),
        ),
    )
]
