"""Runs from schedules: what a run costs when the tick creates it (issue 16).

``tests.bench.lifecycle`` counts a run created "now" through the API.  Most
runs come from deployment schedules instead: the tick materialises them,
one delayed SQS message per pool and due second wakes a dispatch function,
and that pass claims and submits every run due then.  So a scheduled run
has no API create request, shares its message and its pass (the pass's
reads and its pool-turn lease writes) with the runs due at the same second,
and shares the tick's own requests with everything else of that minute.

``Scheduled`` drives that on the same functions and counters as the
created-now lifecycle, through simulated minutes (each invocation carries
the time it happens at): ``k`` deployments of one ``ecs:push`` pool, each
firing every minute on the minute, so ``k`` runs are due together; the
tick function every minute at ``tick_second`` past it (the cloud's tick:
it asks the pool's dispatch function to poll while runs are submitted);
every message it sends delivered at its time (a poll or dispatch message
is one dispatch invocation); each submitted run's ECS events and the flow's
own reports as in the created-now lifecycle, its RUNNING ``start_seconds``
after the submit and its COMPLETED ``run_minutes`` after that.  Everything
invoked over whole materialisation cycles (``Scheduled.run``) is counted
and divided by the runs submitted in them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from core.ports import InfraPhase
from tests.bench.harness import Figure, fake_aws_environment
from tests.bench.lambda_functions import HANDLER_MODULES, POOL_TYPE, Worker
from tests.bench.lambda_sizing import Sizing, kind, moto_server
from tests.bench.lifecycle import ECS_EVENTS, Invocation, Lifecycle
from tests.bench.pricing import MILLION, per_million

STARTED = ("RUNNING", "RUNNING")  # the ECS event after which the flow reports RUNNING


@dataclass(frozen=True)
class Window:
    """Everything invoked in the steady window, and the runs submitted in it."""

    invocations: list[Invocation]
    runs: int
    minutes: int

    def of(self, function: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function == function]


class Scheduled:
    """``k`` every-minute deployments of one push pool, driven minute by minute."""

    def __init__(
        self,
        *,
        k: int,
        run_minutes: int,
        run_reports: int,
        forwarded: Callable[[str, str], bool],
        tick_second: int = 30,
        start_seconds: int = 40,
        table: str = "scheduled",
        endpoint: str | None = None,
        workers: Mapping[str, Worker] | None = None,
    ) -> None:
        if k < 1 or run_minutes < 1 or not 0 <= tick_second < 60 or not 0 <= start_seconds < 60:
            raise ValueError("k, run_minutes at least 1; tick_second, start_seconds within 0-59")
        self.k, self.run_minutes, self.tick_second = k, run_minutes, tick_second
        self.start_seconds = start_seconds
        self.life = Lifecycle(
            run_reports=run_reports,
            table=table,
            forwarded=forwarded,
            endpoint=endpoint,
            workers=workers,
        )
        self.reports = ["RUNNING", "COMPLETED"][:run_reports]
        self._events: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._started: set[str] = set()
        self.pool_id = ""
        # the ticks that created runs: where each is in the invocations, and when
        self._extensions: list[tuple[int, datetime]] = []

    def setup(self) -> None:
        """The pool and its ``k`` scheduled deployments, as an admin makes them (not counted)."""
        life = self.life
        self.pool_id = life.api("POST", "/api/work_pools/", {"name": "etl", "type": POOL_TYPE})[
            "id"
        ]
        flow = life.api("POST", "/api/flows/", {"name": "hourly"})
        every_minute = [{"schedule": {"cron": "* * * * *"}}]
        for n in range(self.k):
            body = {
                "name": f"every-minute-{n}",
                "flow_id": flow["id"],
                "work_pool_name": "etl",
                "schedules": every_minute,
            }
            life.api("POST", "/api/deployments/", body)
        life.invocations.clear()
        life.requests.clear()

    def run(self, *, cycles: int = 1) -> Window:
        """Ticks from the next whole minute on; the window's invocations and runs.

        The window runs from the first tick that extends the schedules (not the
        first materialisation: by then slots are full and the schedule is as far
        ahead as it stays) up to, not including, the ``cycles``-th extending tick
        after it: whole materialisation cycles, so its share of the tick is the
        steady one.
        """
        start = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        self._at(start + timedelta(seconds=self.tick_second), self._tick)
        while len(self._extensions) < cycles + 2:
            when, _, action = heapq.heappop(self._events)
            if when - start > timedelta(days=1):
                raise RuntimeError("the schedules were not extended within a simulated day")
            self.life.now = when
            action()
        (opens, opened), (closes, closed) = self._extensions[1], self._extensions[-1]
        counted = self.life.invocations[opens:closes]
        runs = sum(i.provider_calls for i in counted if i.function == "dispatch")
        return Window(counted, runs, round((closed - opened) / timedelta(minutes=1)))

    # -- what happens ------------------------------------------------------------------------
    def _at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), action))

    def _tick(self) -> None:
        index = len(self.life.invocations)
        reply = self.life._invoke("tick", f"tick k={self.k}", {})
        now = self.life.now or datetime.now(UTC)
        if reply.get("created"):
            self._extensions.append((index, now))
            self.life.invocations[-1].what += " extending"
        self._at(now + timedelta(minutes=1), self._tick)
        for message in reply.get("messages", []):
            not_before = message.get("not_before")
            when = datetime.fromisoformat(not_before) if not_before else self.life.now
            assert when is not None
            self._at(when, partial(self._deliver, message))

    def _deliver(self, message: dict[str, Any]) -> None:
        """One message, one dispatch invocation (a batch of one)."""
        kind = message.get("kind", "dispatch")
        if kind not in ("dispatch", "poll"):
            raise RuntimeError(f"the scenario sends no {kind} messages: {message}")
        payload = {"pool": message["pool"], "look_after": bool(message.get("look_after"))}
        what = f"{'poll' if kind == 'poll' else 'scheduled'} pass k={self.k}"
        self.life._invoke("dispatch", what, {**payload, "kind": kind})
        self._follow_up()
        self._start_submitted()

    def _follow_up(self) -> None:
        """The messages the last invocation sent, each delivered at once."""
        while self.life.requests:
            pool, look_after = self.life.requests.pop(0)
            message = {"pool": pool, "look_after": look_after}
            self._at(self.life.now or datetime.now(UTC), partial(self._deliver, message))

    def _start_submitted(self) -> None:
        """The runs a pass submitted start (read outside any counted step)."""
        for run in self.life.store.list_active(self.pool_id):
            if run.infrastructure_pid and run.id not in self._started:
                self._started.add(run.id)
                self._start(run.id, run.infrastructure_pid)

    def _start(self, run_id: str, infra_id: str) -> None:
        """The task's events up to RUNNING and the flow's RUNNING ``start_seconds``
        after the submit; the rest ``run_minutes`` after that."""
        started = ECS_EVENTS.index(next(e for e in ECS_EVENTS if e[:2] == STARTED)) + 1
        now = self.life.now or datetime.now(UTC)
        running = now + timedelta(seconds=self.start_seconds)
        ends = running + timedelta(minutes=self.run_minutes)
        self._at(running, lambda: self._events_of(run_id, infra_id, ECS_EVENTS[:started]))
        self._at(ends, lambda: self._events_of(run_id, infra_id, ECS_EVENTS[started:]))

    def _events_of(self, run_id: str, infra_id: str, events: tuple[Any, ...]) -> None:
        for last_status, desired_status, status in events:
            if status.phase is InfraPhase.EXITED and "COMPLETED" in self.reports:
                self.life._report(run_id, "COMPLETED")
            if self.life.forwarded(last_status, desired_status):
                self.life.infra_event(run_id, infra_id, status)
            if (last_status, desired_status) == STARTED and "RUNNING" in self.reports:
                self.life._report(run_id, "RUNNING")
            self._follow_up()


# -- what a scheduled run costs ---------------------------------------------------------------

NOTE = (
    "scheduled (after only): k every-minute deployments of one ecs:push pool (k = "
    "{scheduled_k}), the tick at :{tick_second:02} of each minute, each run RUNNING "
    "{start_seconds} s after its RunTask and COMPLETED {run_minutes} min later; everything "
    "invoked over {scheduled_cycles} whole materialisation cycle(s) after the first "
    "extension (the ticks, the messages they and the others sent, the passes, polls, "
    "ECS events and the flow's reports) divided by the runs submitted in it, shared "
    "alike; CPU of each kind of scheduled invocation measured in workers as above; "
    "a run-minute: the difference to 1-minute runs, divided by the extra minutes"
)


def ks(options: dict[str, Any]) -> list[int]:
    """The ``scheduled_k`` option: runs due together, e.g. "1,10"."""
    given = str(options["scheduled_k"])
    try:
        found = [int(k) for k in given.split(",") if k.strip()]
    except ValueError:
        found = []
    if not found or min(found) < 1:
        raise ValueError(f"scheduled_k must list whole numbers of at least 1, not {given!r}")
    return found


def check(options: dict[str, Any]) -> None:
    """Refuse options the scenario cannot drive before anything is measured."""
    ks(options)
    for name, low, high in (
        ("run_minutes", 1, 24 * 60),
        ("tick_second", 0, 59),
        ("start_seconds", 0, 59),
        ("scheduled_cycles", 1, 100),
    ):
        if not low <= int(options[name]) <= high:
            raise ValueError(f"{name} must be between {low} and {high}, not {options[name]}")


def count(k: int, run_minutes: int, options: dict[str, Any], forwarded: Any) -> Window:
    """One steady window on in-process moto (call inside ``mock_aws``)."""
    scenario = Scheduled(
        k=k,
        run_minutes=run_minutes,
        run_reports=int(options["run_reports"]),
        forwarded=forwarded,
        tick_second=int(options["tick_second"]),
        start_seconds=int(options["start_seconds"]),
        table=f"scheduled-{k}-{run_minutes}",
    )
    scenario.setup()
    window = scenario.run(cycles=int(options["scheduled_cycles"]))
    if window.runs != k * window.minutes:
        raise RuntimeError(f"{window.runs} runs in {window.minutes} minutes, not {k} a minute")
    return window


def measure_cpu(sizing: Sizing, options: dict[str, Any], forwarded: Any) -> None:
    """Add the CPU of each kind of scheduled invocation to ``sizing``: the same
    scenario, each function in a worker of its own against a moto server."""
    for k in ks(options):
        with fake_aws_environment(), moto_server() as endpoint:
            table = f"sized-{k}"
            workers = {f: Worker(f, endpoint, table) for f in HANDLER_MODULES}
            try:
                scenario = Scheduled(
                    k=k,
                    run_minutes=int(options["run_minutes"]),
                    run_reports=int(options["run_reports"]),
                    forwarded=forwarded,
                    tick_second=int(options["tick_second"]),
                    start_seconds=int(options["start_seconds"]),
                    table=table,
                    endpoint=endpoint,
                    workers=workers,
                )
                scenario.setup()
                for invocation in scenario.run(cycles=1).invocations:
                    samples = sizing.warm_cpu_ms.setdefault(kind(invocation), [])
                    samples.append(float(invocation.cpu_ms or 0.0))
                for worker in workers.values():
                    worker.finish()
                scenario.life.client.close()  # a kept-alive connection holds the server up
            finally:
                for worker in workers.values():
                    worker.kill()


def per_run(
    window: Window, price: Callable[[list[Invocation]], dict[str, float]]
) -> dict[str, float]:
    return {s: usd / window.runs for s, usd in price(window.invocations).items()}


def scheduled_figures(
    options: dict[str, Any],
    price: Callable[[list[Invocation]], dict[str, float]],
    forwarded: Any,
    cpu_ms: Callable[[Invocation], float] | None = None,
) -> tuple[list[Figure], str]:
    """For each k: $ per million runs by service, what a run was counted to cost, and
    what a minute of holding a slot adds; and a table of where each cent goes."""
    from moto import mock_aws

    figures: list[Figure] = []
    tables: list[str] = []
    minutes = int(options["run_minutes"])
    for k in ks(options):
        with fake_aws_environment(), mock_aws():
            window = count(k, minutes, options, forwarded)
            short = count(k, 1, options, forwarded) if minutes > 1 else None
        label = f"scheduled, k={k} due together, {minutes}-minute runs"
        costs = per_run(window, price)
        figures += per_million([costs], label)
        figures += window_counts(window, f"scheduled k={k}")
        if short is not None:
            extra = sum(costs.values()) - sum(per_run(short, price).values())
            reads = window_rru(window) - window_rru(short)
            figures += [
                Figure.exact(
                    f"scheduled k={k}: $ per million run-minutes holding a slot",
                    extra / (minutes - 1) * MILLION,
                    unit="USD",
                    note=f"{reads / (minutes - 1):.2f} RRU a run-minute",
                ),
                Figure.exact(
                    f"scheduled k={k}: DynamoDB read units per run-minute holding a slot",
                    reads / (minutes - 1),
                    unit="RRU",
                ),
            ]
        tables.append(cents_table(window, price, k, cpu_ms))
    return figures, "\n\n".join(tables)


def window_rru(window: Window) -> float:
    return sum(i.dynamodb.rcu for i in window.invocations) / window.runs


def window_counts(window: Window, label: str) -> list[Figure]:
    """Per run: invocations by function, DynamoDB requests and units, SQS messages."""
    runs, counted = window.runs, window.invocations
    functions = sorted({i.function for i in counted})
    return [
        Figure.exact(f"{label}: runs counted", runs, unit="runs", note=f"{window.minutes} minutes"),
        *[
            Figure.exact(
                f"{label}: invocations per run: {name}",
                len(window.of(name)) / runs,
                unit="calls",
            )
            for name in functions
        ],
        Figure.exact(
            f"{label}: DynamoDB requests per run",
            sum(i.dynamodb.request_count for i in counted) / runs,
            unit="requests",
        ),
        Figure.exact(f"{label}: DynamoDB read units per run", window_rru(window), unit="RRU"),
        Figure.exact(
            f"{label}: DynamoDB write units per run",
            sum(i.dynamodb.wcu + i.dynamodb.index_wcu for i in counted) / runs,
            unit="WRU",
        ),
        Figure.exact(
            f"{label}: SQS messages per run",
            sum(i.sqs_sent for i in counted) / runs,
            unit="messages",
        ),
    ]


def cents_table(
    window: Window,
    price: Callable[[list[Invocation]], dict[str, float]],
    k: int,
    cpu_ms: Callable[[Invocation], float] | None = None,
) -> str:
    """Each kind of invocation of the window, per run: calls, requests, units, $ per million;
    and the median CPU an invocation of that kind was measured to take."""
    runs = window.runs
    kinds: dict[tuple[str, str], list[Invocation]] = {}
    for invocation in window.invocations:
        kinds.setdefault(kind(invocation), []).append(invocation)
    rows = [
        f"Scheduled runs, k={k}: where each cent goes ({runs} runs in {window.minutes} "
        "minutes; everything counted in the window divided by its runs)",
        f"{'invocation':44} {'calls':>6} {'requests':>8} {'RRU':>6} {'WRU':>6} {'SQS':>5} "
        f"{'$/M runs':>9} {'CPU ms':>7}",
    ]
    for (function, what), found in sorted(kinds.items()):
        usd = sum(price(found).values()) / runs * MILLION
        rows.append(
            f"{function + ' ' + what:44} {len(found) / runs:6.2f} "
            f"{sum(i.dynamodb.request_count for i in found) / runs:8.2f} "
            f"{sum(i.dynamodb.rcu for i in found) / runs:6.2f} "
            f"{sum(i.dynamodb.wcu + i.dynamodb.index_wcu for i in found) / runs:6.2f} "
            f"{sum(i.sqs_sent for i in found) / runs:5.2f} {usd:9.2f} "
            + (f"{cpu_ms(found[0]):7.1f}" if cpu_ms else "")
        )
    total = sum(price(window.invocations).values()) / runs * MILLION
    rows.append(f"{'total':44} {'':6} {'':8} {'':6} {'':6} {'':5} {total:9.2f}")
    return "\n".join(rows)
