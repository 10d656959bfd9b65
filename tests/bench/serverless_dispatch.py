"""Dispatch latency on the serverless path, as figures: wraps ``dispatch_latency``.

``tests/bench/dispatch_latency.py`` (the serverless engineer's) drives the
real Lambda handlers over moto — the tick's delayed SQS messages for runs
due later, the API's undelayed message for runs created now — and records
when each run's ``RunTask`` call happened.  This module runs its two paths
with this runner's options and reports them like every other benchmark.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from tests.bench.harness import Benchmark, Figure, Option, Result

MODULE = "tests.bench.dispatch_latency"
PERCENTILES = (50, 95, 99)


def run(options: dict[str, Any]) -> Result:
    result = Result(
        name="dispatch_latency",
        title="serverless path (moto): due/created → ECS RunTask",
        repetitions=f"{options['runs']} runs per path; fresh stacks per round of due runs and "
        "per 100 runs created now (moto slows as its table grows)",
    )
    if importlib.util.find_spec(MODULE) is None:
        result.notes.append(f"{MODULE} is not on this branch yet: nothing measured")
        return result
    bench = importlib.import_module(MODULE)
    runs, rate = int(options["runs"]), int(options["rate"])
    due = bench.due_path(runs=runs, rate=rate)
    now = bench.now_path(runs=runs)
    result.figures = [
        Figure.of("due → RunTask (delayed SQS message)", due, unit="ms", percentiles=PERCENTILES),
        Figure.of(
            "due → RunTask, late by (0 if early)",
            [max(v, 0.0) for v in due],
            unit="ms",
            percentiles=PERCENTILES,
        ),
        Figure.of("created now → RunTask", now, unit="ms", percentiles=PERCENTILES),
    ]
    result.notes = [
        "the real tick, dispatch and API handlers on moto (DynamoDB, SQS, ECS, Secrets "
        "Manager); a loop plays Lambda's SQS event source mapping, polling every 10 ms",
        "in AWS add the event source mapping's pickup (long polling) and cold starts",
        f"{sum(1 for v in due if v < 0)} of {len(due)} due runs were released early: the "
        "dispatcher admits runs due within the next second",
    ]
    return result


BENCHMARKS = [
    Benchmark(
        name="dispatch_latency",
        title="dispatch latency on the serverless path (moto), p50/p95/p99",
        run=run,
        options=(
            Option("runs", 500, 1000, "runs per path"),
            Option("rate", 2, 2, "due runs per second"),
        ),
    )
]
