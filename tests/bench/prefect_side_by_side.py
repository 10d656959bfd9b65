"""Prefect 3.9.1 and pushpool side by side, same machine, same run (issue 16).

**Run-now latency.**  A flow run is created "now" for a deployment on a
process pool, and the figure runs from just before the create request to the
moment the flow's process started (it writes ``time.time()`` first thing; see
``_side_by_side.FLOW``).  The same command runs on both sides, set per run
through ``job_variables`` (a Prefect process pool's ``command`` variable and
pushpool's), so neither side imports a flow framework in the child.  Each run
is created after a random pause of up to one poll interval, so a polling
worker is met at a random point of its interval, as a user meets it.

**API throughput.**  With every worker stopped, ``threads`` plain httpx
clients send the same requests to ``prefect server start`` and to ``pushpool
server``: read the pool, create a flow run from the deployment, and a
worker's poll (``get_scheduled_flow_runs``, ``limit`` 10, once both hold the
same number of scheduled runs).

Every server and worker is a real subprocess on SQLite in a temporary
directory.  Prefect is never a dependency: ``PUSHPOOL_PREFECT`` (set by
``.ci/run``) names its CLI, and without it this benchmark reports that it
skipped and measures nothing.
"""

from __future__ import annotations

import functools
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.bench import _side_by_side as sides
from tests.bench.harness import Benchmark, Figure, Option, Result, Stopwatch, progress
from tests.bench.local_server import ok

PERCENTILES = (50, 95, 99)
SKIPPED = (
    "skipped: Prefect is not installed. Set PUSHPOOL_PREFECT to the `prefect` of a Prefect "
    "3.9.1 virtualenv (.ci/run builds one from .ci/prefect.lock) to run it."
)
EXPECTED_PREFECT = "3.9.1"
PREFECT_DEFAULT_QUERY_SECONDS = 10.0
PREFECT_FAST_QUERY_SECONDS = 1.0
CREATE_RETRIES = 5  # Prefect's client retries a 503 up to 5 times (PREFECT_CLIENT_MAX_RETRIES)


@dataclass
class Side:
    """One server's API with a process pool and a deployment on it."""

    api: str
    pool: str
    deployment_id: str
    flow: Path  # the flow script
    marks: Path  # where each run's process notes when it started

    def command(self, mark: Path) -> str:
        return f"{sys.executable} -S {self.flow} {mark}"


def make_side(api: str, pool: str, tmp: Path) -> Side:
    """A deployment on ``pool`` (which must exist) whose runs write their start time."""
    flow = tmp / "flow.py"
    flow.write_text(sides.FLOW)
    marks = tmp / f"marks-{pool}"
    marks.mkdir()
    with httpx.Client(base_url=api, timeout=30) as http:
        flow_id = ok(http.post("/flows/", json={"name": f"side-by-side-{pool}"}))["id"]
        body = {"name": pool, "flow_id": flow_id, "work_pool_name": pool}
        deployment = ok(http.post("/deployments/", json=body))
    return Side(api, pool, str(deployment["id"]), flow, marks)


def create_body(job_variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``create_flow_run_from_deployment`` sends, trimmed to what both need."""
    body: dict[str, Any] = {"state": {"type": "SCHEDULED"}}
    if job_variables:
        body["job_variables"] = job_variables
    return body


def _wait_for_mark(mark: Path, child: sides.Child, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mark.exists():
            return float(mark.read_text())
        time.sleep(0.002)
        child.check_alive()
    raise RuntimeError(f"the run writing {mark.name} did not start within {timeout:g} s")


def create_run(http: httpx.Client, side: Side, body: dict[str, Any]) -> int:
    """Create a run as Prefect's client does: a 503 (Prefect's SQLite busy) is retried.

    Returns how many retries it took; the latency still runs from the first try.
    """
    path = f"/deployments/{side.deployment_id}/create_flow_run"
    for retry in range(CREATE_RETRIES + 1):
        response = http.post(path, json=body)
        if response.status_code != 503 or retry == CREATE_RETRIES:
            ok(response)
            return retry
        time.sleep(0.1 * (retry + 1))
    raise AssertionError("unreachable")


def run_now_latencies(
    side: Side, worker: sides.Child, runs: int, pause: float
) -> tuple[list[float], int]:
    """ms from just before each create request to its flow process's first line; retries."""
    chance = random.Random(16)
    latencies: list[float] = []
    retries = 0
    with httpx.Client(base_url=side.api, timeout=30) as http:
        for i in range(runs):
            time.sleep(chance.uniform(0, pause))
            mark = side.marks / uuid.uuid4().hex
            body = create_body({"command": side.command(mark)})
            before = time.time()
            retries += create_run(http, side, body)
            latencies.append((_wait_for_mark(mark, worker, pause + 60) - before) * 1000)
            if (i + 1) % 10 == 0:
                progress(f"{side.pool}: {i + 1}/{runs}")
    return latencies, retries


# -- API throughput --------------------------------------------------------------------------


@dataclass
class Load:
    """Requests sent by ``threads`` clients; each thread keeps one connection."""

    latencies: list[float] = field(default_factory=list)  # of the answered requests (< 400)
    errors: Counter[str] = field(default_factory=Counter)  # status code or exception name
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def per_second(self) -> float:
        """Answered requests per second; a refused one (a 503) does not count."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def describe_errors(self) -> str:
        return ", ".join(f"{n} x {what}" for what, n in self.errors.most_common()) or "none"


Request = Callable[[httpx.Client], httpx.Response]


def hammer(api: str, send: Request, *, requests: int, threads: int) -> Load:
    load = Load()
    left = iter(range(requests))
    take = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=api, timeout=60) as http:
            while True:
                with take:
                    if next(left, None) is None:
                        return
                began = time.perf_counter()
                try:
                    response = send(http)
                    error = None if response.status_code < 400 else str(response.status_code)
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                took = (time.perf_counter() - began) * 1000
                with load.lock:
                    if error:
                        load.errors[error] += 1
                    else:
                        load.latencies.append(took)

    clock = Stopwatch()
    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    load.seconds = clock.seconds
    return load


def operations(side: Side) -> list[tuple[str, Request]]:
    def read_pool(http: httpx.Client) -> httpx.Response:
        return http.get(f"/work_pools/{side.pool}")

    def create_run(http: httpx.Client) -> httpx.Response:
        path = f"/deployments/{side.deployment_id}/create_flow_run"
        return http.post(path, json=create_body())

    def poll(http: httpx.Client) -> httpx.Response:
        soon = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()
        body = {"scheduled_before": soon, "limit": 10}
        return http.post(f"/work_pools/{side.pool}/get_scheduled_flow_runs", json=body)

    return [
        ("GET /work_pools/{pool}", read_pool),
        ("POST /deployments/{id}/create_flow_run", create_run),
        ("POST /work_pools/{pool}/get_scheduled_flow_runs", poll),
    ]


def throughput(label: str, side: Side, options: dict[str, Any]) -> tuple[list[Figure], list[str]]:
    """Figures per operation, and a note per operation that met errors."""
    threads, requests = int(options["threads"]), int(options["requests"])
    figures: list[Figure] = []
    notes: list[str] = []
    for operation, send in operations(side):
        progress(f"{label}: {operation}, {requests} requests, {threads} threads")
        load = hammer(side.api, send, requests=requests, threads=threads)
        name = f"{label}: {operation}"
        figures.append(Figure.exact(f"{name}, answered", round(load.per_second, 1), unit="req/s"))
        if load.latencies:
            figures.append(
                Figure.of(f"{name}, latency", load.latencies, unit="ms", percentiles=PERCENTILES)
            )
        figures.append(Figure.exact(f"{name}, errors", sum(load.errors.values()), unit="n"))
        if load.errors:
            notes.append(f"{name}: errors {load.describe_errors()} of {requests}")
    return figures, notes


# -- the run ------------------------------------------------------------------------------------


def _latency(name: str, measured: tuple[list[float], int], notes: list[str]) -> Figure:
    samples, retries = measured
    if retries:
        notes.append(f"{name}: {retries} create request(s) answered 503 and were retried")
    return Figure.of(name, samples, unit="ms", percentiles=PERCENTILES)


def _pushpool(tmp: Path, options: dict[str, Any], notes: list[str]) -> list[Figure]:
    runs = int(options["runs"])
    figures: list[Figure] = []
    server, api = sides.pushpool_server(tmp, with_worker=False)
    with sides.running(server):
        sides.wait_until(lambda: sides.healthy(api), server, "pushpool server")
        ok(httpx.post(f"{api}/work_pools/", json={"name": "separate", "type": "process"}))
        side = make_side(api, "separate", tmp)
        worker = sides.pushpool_worker(api, "separate", tmp)
        with sides.running(worker):
            sides.wait_until(lambda: "serving work pool" in worker.text(), worker, "worker")
            progress(f"pushpool server + pushpool worker: {runs} runs")
            measured = run_now_latencies(side, worker, runs, pause=1.0)
        figures.append(
            _latency("pushpool server + worker start (long-poll): run now", measured, notes)
        )
        loaded, errors = throughput("pushpool server", side, options)
        figures += loaded
        notes += errors
    server, api = sides.pushpool_server(tmp, with_worker=True)
    with sides.running(server):
        sides.wait_until(lambda: sides.healthy(api), server, "pushpool server --with-worker")
        ok(httpx.post(f"{api}/work_pools/", json={"name": "in-server", "type": "process"}))
        side = make_side(api, "in-server", tmp)
        progress(f"pushpool server --with-worker: {runs} runs")
        measured = run_now_latencies(side, server, runs, pause=1.0)
        figures.insert(1, _latency("pushpool server --with-worker: run now", measured, notes))
    return figures


def _prefect_pool_ready(api: str, pool: str, worker: sides.Child) -> bool:
    """The worker made its pool (with the process template) and says it started."""
    response = httpx.get(f"{api}/work_pools/{pool}", timeout=5)
    return (
        response.status_code == 200
        and "command" in str(response.json().get("base_job_template"))
        and "started" in worker.text()
    )


def _prefect(prefect: Path, tmp: Path, options: dict[str, Any], notes: list[str]) -> list[Figure]:
    figures: list[Figure] = []
    server, api = sides.prefect_server(prefect, tmp)
    with sides.running(server):
        sides.wait_until(lambda: sides.healthy(api), server, "prefect server", within=300)
        rows = (
            ("default", None, int(options["prefect_runs"])),
            ("fast", PREFECT_FAST_QUERY_SECONDS, int(options["prefect_fast_runs"])),
        )
        first: Side | None = None  # the throughput is measured on the default pool
        for label, query_seconds, runs in rows:
            pool = f"bench-{label}"  # names starting with "prefect" are reserved
            worker = sides.prefect_worker(prefect, api, pool, tmp, query_seconds=query_seconds)
            with sides.running(worker):
                ready = functools.partial(_prefect_pool_ready, api, pool, worker)
                sides.wait_until(ready, worker, f"prefect worker ({pool})", within=300)
                side = make_side(api, pool, tmp)
                first = first or side
                seconds = query_seconds or PREFECT_DEFAULT_QUERY_SECONDS
                progress(f"prefect server + prefect worker, polls every {seconds:g} s: {runs} runs")
                measured = run_now_latencies(side, worker, runs, pause=seconds)
            setting = "default" if query_seconds is None else "PREFECT_WORKER_QUERY_SECONDS"
            figures.append(
                _latency(
                    f"prefect server + worker (polls every {seconds:g} s, {setting}): run now",
                    measured,
                    notes,
                )
            )
        assert first is not None
        loaded, errors = throughput("prefect server", first, options)
        figures += loaded
        notes += errors
    return figures


def run(options: dict[str, Any]) -> Result:
    result = Result(
        name="prefect_side_by_side",
        title="Prefect 3.9.1 and pushpool: run-now latency and API throughput",
        repetitions=(
            f"run now: {options['runs']} runs per pushpool row, {options['prefect_runs']} with "
            f"Prefect's default poll, {options['prefect_fast_runs']} with 1 s; API: "
            f"{options['requests']} requests per operation over {options['threads']} threads"
        ),
    )
    prefect = sides.find_prefect()
    if prefect is None:
        progress(SKIPPED)
        result.notes.append(SKIPPED)
        return result
    version = sides.prefect_version(prefect)
    if version != EXPECTED_PREFECT:
        result.notes.append(f"Prefect {version}, not {EXPECTED_PREFECT}: .ci/prefect.lock pins it")
    with tempfile.TemporaryDirectory(prefix="pushpool-side-by-side-") as tmp:
        result.figures += _pushpool(Path(tmp), options, result.notes)
        result.figures += _prefect(prefect, Path(tmp), options, result.notes)
    result.notes += [
        "run now: from just before the create request to the flow process's first line "
        "(the same python -S script on both sides); each run after a random pause up to one "
        "poll interval",
        "API: plain httpx clients, one connection per thread, every worker stopped; Prefect's "
        "server with its default services, pushpool's with its loops; both on SQLite. "
        "req/s and latencies count answered requests only; an error (Prefect answers 503 when "
        "SQLite is busy, which its own client retries) is counted, not retried",
        f"Prefect {version} ({prefect})",
    ]
    return result


BENCHMARKS = [
    Benchmark(
        name="prefect_side_by_side",
        title="Prefect 3.9.1 side by side: run-now latency, API throughput (needs Prefect)",
        run=run,
        options=(
            Option("runs", 30, 100, "run-now runs per pushpool row"),
            Option("prefect_runs", 12, 30, "run-now runs with Prefect's default 10 s poll"),
            Option("prefect_fast_runs", 30, 50, "run-now runs with Prefect polling every 1 s"),
            Option("threads", 4, 8, "client threads for the API throughput"),
            Option("requests", 400, 2000, "requests per API operation"),
        ),
        opt_in=True,
    )
]
