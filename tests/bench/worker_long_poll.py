"""A separate pull worker: run created "now" → the worker's submit, with and without long-poll.

``pushpool server`` without ``--with-worker`` (``handlers.local.server.build``:
API, trigger and loops on SQLite), and a ``Worker`` (``pushpool worker
start``'s loop) talking HTTP to it with the pushpool client, as one on
another machine would.  The provider is a recorder; the figure is from the
run's ``created`` time to the worker's submit call, so it includes the claim.

Each run is created after a random pause, so the plain worker (polling every
``poll_seconds``) is met at a random point of its interval, as a user is.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from handlers.bootstrap import Settings
from handlers.local.server import BackgroundServer, build
from handlers.worker import Worker, WorkerSettings
from pushpool.client import Client
from tests.bench.harness import Benchmark, Figure, Option, Result, progress
from tests.bench.local_server import make_deployment, ok
from tests.bench.recording import RecordingProvider

PERCENTILES = (50, 95, 99)
POLL_SECONDS = 5.0


def _created_to_submit(
    http: httpx.Client, deployment_id: str, provider: RecordingProvider, runs: int, pause: float
) -> list[float]:
    latencies: list[float] = []
    chance = random.Random(16)
    for i in range(runs):
        time.sleep(chance.uniform(0, pause))
        path = f"/deployments/{deployment_id}/create_flow_run"
        run = ok(http.post(path, json={"state": {"type": "SCHEDULED"}}))
        submitted = provider.wait_for(run["id"], timeout=30)
        if submitted is None:
            raise RuntimeError(f"run {run['id']} was not submitted within 30 s")
        created = datetime.fromisoformat(run["created"].replace("Z", "+00:00"))
        latencies.append((submitted.at - created).total_seconds() * 1000)
        if (i + 1) % 10 == 0:
            progress(f"{i + 1}/{runs}")
    return latencies


def measure(long_poll_seconds: float, runs: int) -> list[float]:
    provider = RecordingProvider(hold=0.0)
    with tempfile.TemporaryDirectory(prefix="pushpool-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'pushpool.db'}"
        settings = Settings(store_url=url, auth=False, run_token_key=b"b" * 32)
        stack = build(port=0, store_url=url, settings=settings)
        stack.container.store  # create the schema before the first request  # noqa: B018
        server = BackgroundServer(stack.container, stack.sock)
        server.start()
        stack.loops.start()
        http = httpx.Client(base_url=stack.url, timeout=30)
        deployment_id = make_deployment(http, "separate", pool_type="process")
        worker = Worker(
            Client(stack.url),
            WorkerSettings(
                pool="separate",
                poll_seconds=POLL_SECONDS,
                long_poll_seconds=long_poll_seconds,
                prefetch_seconds=1.0,
                watch_seconds=0.2,
            ),
            provider=provider,
        )
        thread = threading.Thread(target=worker.run, name="bench-worker", daemon=True)
        thread.start()
        try:
            pause = 1.0 if long_poll_seconds else POLL_SECONDS
            return _created_to_submit(http, deployment_id, provider, runs, pause)
        finally:
            worker.request_stop(hurry=True)
            thread.join(30)
            http.close()
            stack.loops.trigger.wakeups.close()
            server.stop()
            stack.loops.stop()


def run(options: dict[str, Any]) -> Result:
    runs = int(options["runs"])
    result = Result(
        name="worker_long_poll",
        title="separate pull worker on pushpool server (SQLite): created now → worker submit",
        repetitions=f"{runs} runs per mode, one at a time, each after a random pause",
        notes=[
            f"plain: the worker polls every {POLL_SECONDS:g} s (the default); long-poll: "
            "it asks the server to hold an empty poll up to 10 s (wait_seconds), and the "
            "local trigger's wake-up releases it when the run is created",
            "the worker is pushpool worker start's loop in this process, over HTTP with the "
            "pushpool client; the provider is a recorder at the provider seam",
        ],
    )
    for label, wait in (("long-poll (10 s)", 10.0), ("plain poll", 0.0)):
        progress(f"{label}: {runs} runs")
        result.figures.append(
            Figure.of(
                f"separate worker, {label}: created → submit",
                measure(wait, runs),
                unit="ms",
                percentiles=PERCENTILES,
            )
        )
    return result


BENCHMARKS = [
    Benchmark(
        name="worker_long_poll",
        title="separate pull worker: created now → submit, long-poll vs plain poll",
        run=run,
        options=(Option("runs", 20, 100, "runs per mode"),),
    )
]
