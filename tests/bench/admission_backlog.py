"""Admission against a backlog: claims/s and memory of one dispatcher as the
queued runs grow, and an idle ``pushpool server`` holding them.

*Claims*: one pool, three queues, N SCHEDULED runs all due, no limits; one
dispatcher (``admit``, 50 claims a pass, as ``DEFAULT_MAX_CLAIMS``) claims
the first ``claims`` runs; claims/s over those passes, and the peak Python
memory one pass allocates (``tracemalloc``), at each backlog size.

*Idle server*: ``pushpool server`` (``tests.bench.local_server``, SQLite)
over a store holding N due runs in a push pool whose limit is full (a
concurrency limit of 0: nothing can be released, the server is idle);
after a settling time, the process's CPU share and resident memory over
``idle_seconds``.  The tick (every 5 s) reads what it reads; every dispatch
request it sends for the due pool is a dispatcher pass.

It only calls ``admit(store, name, clock=..., max_claims=...)`` and the
store's ``create_*``, so the same file measures an older tree (see
docs/performance.md "Admission throughput").
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from core.services.admission import admit
from tests.bench.admission_throughput import POOL, clock, seed
from tests.bench.harness import Benchmark, Figure, Option, Result, Stopwatch, progress

CLAIMS_PER_PASS = 50


def seeded_copy(base: Path, runs: int) -> str:
    from core.store import open_store

    path = base / f"backlog-{runs}.db"
    clock_ = Stopwatch()
    seed(open_store(f"sqlite:///{path}"), runs)
    progress(f"seeded {runs:,} runs in {clock_.seconds:.1f} s")
    return f"sqlite:///{path}"


def claims_figures(url: str, runs: int, claims: int) -> list[Figure]:
    from core.store import open_store

    store = open_store(url)
    label = f"{runs:,} queued"
    tracemalloc.start()
    first = admit(store, POOL, clock=clock, max_claims=CLAIMS_PER_PASS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    claimed = len(first.claimed)
    watch = Stopwatch()
    while claimed < claims:
        admission = admit(store, POOL, clock=clock, max_claims=CLAIMS_PER_PASS)
        if not admission.claimed:
            break
        claimed += len(admission.claimed)
    rate = (claimed - len(first.claimed)) / watch.seconds
    progress(f"{label}: {rate:,.0f} claims/s, one pass peaked at {peak / 2**20:.1f} MiB")
    return [
        Figure.exact(f"{label}: claims/s, one dispatcher", rate, unit="runs/s"),
        Figure.exact(f"{label}: peak memory of one pass", peak / 2**20, unit="MiB"),
    ]


def full_pool(url: str) -> None:
    """A concurrency limit of 0 (set beside the store: the bench's seam)."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE pools SET concurrency_limit = 0,"
            " body = json_set(body, '$.concurrency_limit', 0) WHERE name = ?",
            (POOL,),
        )


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_figures(url: str, runs: int, settle: float, seconds: float) -> list[Figure]:
    from tests.bench.local_server import local_server
    from tests.integration.support import RecordingProvider

    full_pool(url)
    label = f"idle server, {runs:,} due runs, pool full"
    with local_server(RecordingProvider(), store_url=url) as running:
        running.http.get("/api/health")
        time.sleep(settle)
        cpu0, wall0, rss0 = time.process_time(), time.monotonic(), rss_mib()
        time.sleep(seconds)
        cpu = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
        rss = rss_mib()
    progress(f"{label}: {cpu:.1f}% of a core, {rss:.0f} MiB resident ({rss - rss0:+.0f} MiB)")
    return [
        Figure.exact(f"{label}: CPU", cpu, unit="% of a core"),
        Figure.exact(f"{label}: resident memory", rss, unit="MiB"),
        Figure.exact(f"{label}: resident memory growth while idle", rss - rss0, unit="MiB"),
    ]


def run(options: dict[str, Any]) -> Result:
    backlogs = [int(n) for n in str(options["backlogs"]).split(",") if n.strip() and int(n)]
    claims = int(options["claims"])
    idle = [int(n) for n in str(options["idle_runs"]).split(",") if n.strip() and int(n)]
    result = Result(
        name="admission_backlog",
        title="one dispatcher's claims/s and memory as the backlog grows; an idle server",
        repetitions="one measurement per size",
        notes=[
            f"claims/s over the first {claims:,} claims after one pass, 50 per pass, SQLite",
            "peak memory: tracemalloc over one admit pass (Python allocations)",
            "idle server: CPU share and VmRSS of the whole benchmark process, "
            f"after {options['settle_seconds']} s settling",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="pushpool-backlog-") as tmp:
        for runs in backlogs:
            url = seeded_copy(Path(tmp), runs)
            result.figures += claims_figures(url, runs, claims)
            os.remove(url.removeprefix("sqlite:///"))
        for runs in idle:
            url = seeded_copy(Path(tmp), runs)
            result.figures += idle_figures(
                url, runs, float(options["settle_seconds"]), float(options["idle_seconds"])
            )
    return result


BENCHMARKS = [
    Benchmark(
        name="admission_backlog",
        title="claims/s and memory flat from 2,000 to 100,000 queued runs; idle server",
        run=run,
        options=(
            Option(
                "backlogs",
                "2000,10000",
                "2000,10000,100000",
                "queued runs, comma-separated (0 skips)",
            ),
            Option("claims", 1000, 2000, "runs claimed per size"),
            Option("idle_runs", "0", "60000", "due runs for the idle-server figure (0 skips)"),
            Option("settle_seconds", 10.0, 10.0, "seconds before measuring the idle server"),
            Option("idle_seconds", 20.0, 30.0, "seconds the idle server is measured"),
        ),
    )
]
