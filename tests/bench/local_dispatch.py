"""Dispatch latency on the local server: due time (or creation) → the provider's submit call.

Runs go through everything ``pushpool server --with-worker`` does: the HTTP
API creates them, the in-process trigger wakes the dispatch loop, which
admits, renders the job and calls the provider, on an SQLite store.  The
provider is a recorder (``tests.bench.recording``): the figure is the
control plane's share of the latency, not a cloud's.

Two kinds of run:

* **run now** — created without a scheduled time; latency from the run's
  ``created`` time to the submit call (one run at a time, so each is
  measured on an idle server);
* **scheduled** — created ahead with scheduled times a few tens of
  milliseconds apart; latency from the scheduled time to the submit call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.harness import Benchmark, Figure, Option, Result, progress
from tests.bench.local_server import local_server, make_deployment, ok
from tests.bench.recording import RecordingProvider

PERCENTILES = (50, 95, 99)


def _create(http: Any, deployment_id: str, *, at: datetime | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"type": "SCHEDULED"}
    if at is not None:
        state["state_details"] = {"scheduled_time": at.isoformat()}
    body = {"state": state}
    return ok(http.post(f"/deployments/{deployment_id}/create_flow_run", json=body))  # type: ignore[no-any-return]


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_now(http: Any, deployment_id: str, provider: RecordingProvider, runs: int) -> list[float]:
    latencies: list[float] = []
    for i in range(runs):
        run = _create(http, deployment_id)
        submitted = provider.wait_for(run["id"], timeout=30)
        if submitted is None:
            raise RuntimeError(f"run {run['id']} was not submitted within 30 s")
        latencies.append((submitted.at - _parse(run["created"])).total_seconds() * 1000)
        if (i + 1) % 250 == 0:
            progress(f"run now: {i + 1}/{runs}")
    return latencies


def scheduled(
    http: Any, deployment_id: str, provider: RecordingProvider, runs: int, spacing_ms: int
) -> tuple[list[float], int]:
    """Latencies from scheduled time; also how many were created after their time."""
    base = len(provider.submissions)
    start = datetime.now(UTC) + timedelta(seconds=3 + runs * 0.03)
    due: dict[str, datetime] = {}
    late_created = 0
    for i in range(runs):
        at = start + timedelta(milliseconds=i * spacing_ms)
        created = _create(http, deployment_id, at=at)
        due[created["id"]] = at
        late_created += _parse(created["created"]) > at
    progress(f"scheduled: {runs} runs created, first due {start:%H:%M:%S.%f}")
    wait = (start - datetime.now(UTC)).total_seconds() + runs * spacing_ms / 1000 + 30
    provider.wait_count(base + runs, timeout=wait)
    latencies = []
    for run_id, at in due.items():
        submitted = provider.submissions.get(run_id)
        if submitted is None:
            raise RuntimeError(f"scheduled run {run_id} was never submitted")
        latencies.append((submitted.at - at).total_seconds() * 1000)
    return latencies, late_created


PATHS = {
    "ecs:push": "push pool (dispatch loop)",
    "process": "process pool (--with-worker)",
}


def measure(pool_type: str, options: dict[str, Any]) -> tuple[list[Figure], list[str]]:
    runs = int(options["runs"])
    label = PATHS[pool_type]
    provider = RecordingProvider(hold=0.0)
    with local_server(provider, pool_type=pool_type) as server:
        deployment_id = make_deployment(server.http, "latency", pool_type=pool_type)
        for _ in range(20):  # warm-up: imports, first connections, template cache
            _create(server.http, deployment_id)
        provider.wait_count(20, timeout=30)
        now_ms = run_now(server.http, deployment_id, provider, runs)
        due_ms, late_created = scheduled(
            server.http, deployment_id, provider, runs, spacing_ms=int(options["spacing_ms"])
        )
        duplicates = provider.duplicates
    early = sum(1 for v in due_ms if v < 0)
    figures = [
        Figure.of(
            f"{label}, run now: created → submit", now_ms, unit="ms", percentiles=PERCENTILES
        ),
        Figure.of(
            f"{label}, scheduled: due → submit (signed)", due_ms, unit="ms", percentiles=PERCENTILES
        ),
        Figure.of(
            f"{label}, scheduled: late by (0 if early)",
            [max(v, 0.0) for v in due_ms],
            unit="ms",
            percentiles=PERCENTILES,
        ),
        Figure.exact(f"{label}: duplicate submissions", duplicates, unit="calls"),
    ]
    notes = [
        f"{label}: {early} of {len(due_ms)} scheduled runs were submitted before their time "
        f"(negative); {late_created} were created after it",
    ]
    return figures, notes


def run(options: dict[str, Any]) -> Result:
    result = Result(
        name="local_dispatch",
        title="local server (SQLite): due/created → provider submit call",
        repetitions=f"{options['runs']} runs of each kind per path, one server per path, "
        "after 20 warm-up runs",
        notes=[
            "push pool: HTTP create_flow_run → LocalTrigger → dispatch loop → admit (claim) → "
            "build_job → provider.submit; process pool: the same trigger wakes the in-process "
            "pull worker, which polls, claims and submits through its in-process API port (the "
            "services, no HTTP); the provider is a recorder at the provider seam",
            f"scheduled runs {options['spacing_ms']} ms apart; a pass woken by one run admits "
            "every run due within the next second (DEFAULT_WINDOW; the worker prefetches 1 s), "
            "so most are submitted up to a second early",
            "Prefect's push pools take 30-40 s and its workers poll every 10 s (design §9)",
        ],
    )
    for pool_type in PATHS:
        figures, notes = measure(pool_type, options)
        result.figures += figures
        result.notes += notes
    return result


BENCHMARKS = [
    Benchmark(
        name="local_dispatch",
        title="dispatch latency on pushpool server (SQLite), p50/p95/p99",
        run=run,
        options=(
            Option("runs", 500, 2000, "runs of each kind"),
            Option("spacing_ms", 37, 37, "milliseconds between scheduled runs' due times"),
        ),
    )
]
