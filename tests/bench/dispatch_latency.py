"""Dispatch latency: from a run's due time (or its creation) to its RunTask call.

Run it: ``python -m tests.bench.dispatch_latency [--runs 500] [--rate 2]``
(about five minutes).  It prints a table and asserts nothing about time.

The stack is the end-to-end test's (``tests/e2e/aws_stack.py``): DynamoDB,
SQS, Secrets Manager and ECS in moto, the real Lambda handlers, on the wall
clock this time, since SQS's delays are real seconds.  Two paths:

* **due time, delayed messages**: in rounds of 50 seconds, 1-second interval
  schedules give ``--rate`` runs due on each whole second; the tick
  materialises them and sends one message per due second, which SQS delays
  to that second; the loop below plays Lambda's SQS event source mapping
  (receive, invoke the dispatch function, delete), polling every 10 ms;
* **created now**: ``--runs`` runs created one at a time through the API
  (``create_flow_run``), whose trigger sends an undelayed message.

Latency is the wall time of the RunTask call minus the run's due time
(first path) or its creation time (second path).  A negative value is a run
released early: the dispatcher looks one second ahead (its admission window),
so a message for second S also releases runs due up to S + 1.

What is moto's, not the design's, and kept out of the figures:

* moto serialises DynamoDB calls (the fixture's lock) where DynamoDB serves
  the tick and the dispatch functions in parallel, so the tick runs between
  rounds, before their runs are due, not beside them;
* moto copies the whole table on every transaction (two per run: the claim
  and the record of the task), so its transactions slow down as runs pile
  up (DynamoDB's do not): each round, and each 100 runs created now, get a
  fresh stack; at a high ``--rate`` the figures still show moto's
  throughput, not the dispatcher's latency;
* every function is warmed up first: cold starts are not measured.

On AWS add the event source mapping's own pickup (long polling, typically
tens of milliseconds).  For comparison, a Prefect worker polls every 10 s and
its hosted push pools are reported to take 30-40 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.core.model_instances import reset_model_data

from core.models import FlowRun
from core.states import StateType
from tests.clock import FakeClock
from tests.e2e.aws_stack import CLUSTER, Stack, deployed_stack

POLL_SECONDS = 0.01
ROUND_SECONDS = 50  # = PER_DEPLOYMENT runs a second apart, within one tick's 60 s horizon
LEAD = timedelta(seconds=10)  # the tick is done before the round's first run is due
PER_DEPLOYMENT = 50  # the tick materialises at most this many runs per deployment
RUNS_PER_STACK = 100  # a fresh stack (table) per 100 runs: see "moto copies" above


class WallClock(FakeClock):
    """The real clock, where the stack expects a settable one."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@contextmanager
def wall_clock_stack() -> Iterator[Stack]:
    clock = WallClock()
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        deployed_stack(monkeypatch, now=clock(), clock=clock) as stack,
    ):
        stack.api("POST", "/api/work_pools/", {"name": "bench", "type": "ecs:push"})
        yield stack


def deployment(stack: Stack, name: str, schedule: dict[str, Any] | None = None) -> str:
    flow = stack.api("POST", "/api/flows/", {"name": "bench"})
    body: dict[str, Any] = {
        "name": name,
        "flow_id": flow["id"],
        "work_pool_name": "bench",
        "job_variables": {"image": "flows:1", "cluster": CLUSTER},
        "schedules": [{"schedule": schedule}] if schedule else [],
    }
    return str(stack.api("POST", "/api/deployments/", body)["id"])


def submitted(stack: Stack) -> int:
    return sum(not call.failed for call in stack.run_task_calls)


def pump(stack: Stack, *, until_submitted: int, timeout: float) -> None:
    """Lambda's event source mapping: deliver messages as soon as SQS shows them."""
    deadline = time.monotonic() + timeout
    while submitted(stack) < until_submitted:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {submitted(stack)} of {until_submitted} runs were submitted")
        # moto keeps every model object it ever made for its dashboard, including
        # the copy of the whole table each transaction takes: let them go.
        reset_model_data()
        if stack.drain() == 0:
            time.sleep(POLL_SECONDS)


def latencies(stack: Stack, runs: dict[str, FlowRun], *, since: str) -> list[float]:
    called = {c.run_id: c.at for c in stack.run_task_calls if not c.failed}
    measured = []
    for run_id, run in runs.items():
        start = run.next_scheduled_start_time if since == "due" else run.created
        measured.append((called[run_id] - start).total_seconds() * 1000)
    return measured


def run_now(stack: Stack, deployment_id: str, *, runs: int) -> dict[str, FlowRun]:
    """Create runs one by one through the API; each is submitted before the next."""
    store = stack.container.store
    created: dict[str, FlowRun] = {}
    for _ in range(runs):
        before = submitted(stack)
        run = stack.api("POST", f"/api/deployments/{deployment_id}/create_flow_run", {})
        created[run["id"]] = store.get_run(run["id"])
        pump(stack, until_submitted=before + 1, timeout=30)
    return created


def due_round(stack: Stack, index: int, *, rate: int) -> dict[str, FlowRun]:
    """``rate`` runs due on each whole second for ``ROUND_SECONDS`` seconds
    (one 1-second interval schedule each), handed over by the tick's delayed
    messages."""
    anchor = (stack.clock() + LEAD).replace(microsecond=0).isoformat()
    schedule = {"interval": 1, "anchor_date": anchor}
    ids = [deployment(stack, f"round-{index}-{n}", schedule) for n in range(rate)]
    summary = stack.tick()
    for deployment_id in ids:  # one round's worth of runs: no more from these schedules
        stack.api("PATCH", f"/api/deployments/{deployment_id}", {"paused": True}, expect=204)
    store = stack.container.store
    pool_id = store.get_pool("bench").id
    due = store.list_runs(pool_id=pool_id, state_types=[StateType.SCHEDULED], limit=1000)
    print(f"round {index}: {len(due)} runs due, {summary['messages_sent']} messages sent")
    pump(stack, until_submitted=submitted(stack) + len(due), timeout=ROUND_SECONDS + 60)
    return {run.id: run for run in due}


def warm_up(stack: Stack) -> None:
    """One run through every function first: cold starts are not measured here."""
    run_now(stack, deployment(stack, "warm-up"), runs=1)
    stack.run_task_calls.clear()


def due_path(*, runs: int, rate: int) -> list[float]:
    measured: list[float] = []
    for index in range(-(-runs // (rate * PER_DEPLOYMENT))):
        with wall_clock_stack() as stack:
            warm_up(stack)
            measured += latencies(stack, due_round(stack, index, rate=rate), since="due")
    return measured


def now_path(*, runs: int) -> list[float]:
    measured: list[float] = []
    for start in range(0, runs, RUNS_PER_STACK):
        with wall_clock_stack() as stack:
            warm_up(stack)
            on_demand = deployment(stack, "on-demand")
            created = run_now(stack, on_demand, runs=min(RUNS_PER_STACK, runs - start))
            measured += latencies(stack, created, since="created")
    return measured


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def row(label: str, values: list[float]) -> str:
    figures = [percentile(values, q) for q in (50, 95, 99)] + [max(values), statistics.mean(values)]
    early = sum(1 for v in values if v < 0)
    return (
        f"{label:<30} {len(values):>5} " + " ".join(f"{f:>8.0f}" for f in figures) + f" {early:>6}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="runs per path (default 500)")
    parser.add_argument("--rate", type=int, default=2, help="due runs per second (default 2)")
    args = parser.parse_args(argv)
    if args.runs < 1 or not 1 <= args.rate <= PER_DEPLOYMENT:
        parser.error(f"--runs must be positive and --rate 1..{PER_DEPLOYMENT}")
    due = due_path(runs=args.runs, rate=args.rate)
    now = now_path(runs=args.runs)
    header = ["p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms"]
    print(f"\n{'path':<30} {'runs':>5} " + " ".join(f"{h:>8}" for h in header) + f" {'early':>6}")
    print(row("due time -> RunTask (delayed)", due))
    print(row("created now -> RunTask", now))
    print(
        "\nfor comparison: a Prefect worker polls every 10 000 ms; hosted push pools 30-40 000 ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
