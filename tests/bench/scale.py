"""Scale: one tick's duration and peak memory over a large SQLite store.

The store holds P pools (push pools, served by a recorder), 10 deployments
per pool, each with an interval schedule of one run every 6 minutes, and the
runs the tick's own ``schedule_runs`` materialised from them for the next
hour (10 per deployment).  On top of that, D runs are *due*: scheduled 30 s
ago, so the tick marks them Late and asks for dispatch passes.

The tick is timed on a fresh copy of the same file each repetition, with
the clock fixed at the moment of seeding, and run once more under
``tracemalloc`` for its peak memory.  A counting proxy over the store says
which store calls the tick made and how many objects they returned: that
is what shows whether the work follows the due runs or the totals.

Scenarios: the totals with few and with many due runs, a tenth of the
totals with few due runs, and the totals again with the deployments'
schedules switched off (same runs, nothing to materialise), with few and
many due runs: that pair isolates what the tick does besides
materialising schedules.  The seed ends as the ticks before this one would
have left the store (each deployment's progress recorded, issue 16); the
last scenario sets a thirtieth of them back half an hour, so the tick has
that many schedules to extend (the steady state of 6-minute schedules
extended every half hour).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.models import Deployment, Schedule
from core.ports import PoolMode, Store
from tests.bench.harness import Benchmark, Figure, Option, Result, Stopwatch, progress
from tests.bench.recording import RecordingProvider
from tests.contract.builders import make_pool, make_run, new_id

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEPLOYMENTS_PER_POOL = 10
INTERVAL = timedelta(minutes=6)


class CountingStore:
    """The store, with a count of calls and of objects returned per method."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            out = attr(*args, **kwargs)
            if isinstance(out, list | dict):
                self.rows[name] += len(out)
            return out

        return counted


class PushTypes:
    """Every pool is a push pool here (the tick does most for those)."""

    def known(self) -> list[str]:
        return ["ecs:push"]

    def mode(self, pool_type: str) -> PoolMode:
        return PoolMode.PUSH

    def default_template(self, pool_type: str) -> Any:
        return {}


def seed(
    path: Path, *, pools: int, due: int, active: bool = True, extending: int = 0
) -> dict[str, int]:
    """``extending``: every so many deployments (0: none) has its recorded
    progress set back by half an hour, as if last extended then, so the
    tick extends it by 5 runs (they exist, so ``create_run`` answers False):
    a steady state where deployments' schedules run out at different times."""
    from core.services.materialise import Materialiser, schedule_runs
    from core.store import open_store

    store = open_store(f"sqlite:///{path}", clock=lambda: T0)
    # occurrences at T0 + 3 min, + 9 min, ...: none due at the tick but the extra ones
    anchor = T0 + timedelta(minutes=3) - timedelta(days=1)
    schedule = Schedule(interval=INTERVAL.total_seconds(), anchor_date=anchor)
    made = Counter[str]()
    queues = []
    for p in range(pools):
        pool, queue = make_pool(f"pool-{p:05d}", pool_type="ecs:push", now=T0)
        store.create_pool(pool, queue)
        queues.append((pool, queue))
        for d in range(DEPLOYMENTS_PER_POOL):
            deployment = Deployment(
                id=new_id(),
                name=f"dep-{p:05d}-{d}",
                flow_id="flow",
                flow_name="flow",
                work_pool_name=pool.name,
                work_queue_name=queue.name,
                schedules=(schedule,),
                created=T0,
                updated=T0,
            )
            made["runs"] += len(schedule_runs(store, deployment, now=T0))
            if not active:  # the same runs, but nothing for the tick to materialise
                off = schedule.model_copy(update={"active": False})
                deployment = deployment.model_copy(update={"schedules": (off,)})
            store.create_deployment(deployment)
            made["deployments"] += 1
        if (p + 1) % max(pools // 4, 1) == 0:
            progress(f"seeded {p + 1}/{pools} pools")
    # What the ticks before this one recorded: how far each schedule is materialised.
    Materialiser(store, batch=made["deployments"] + 1).run(now=T0, errors=[])
    if extending:
        every = store.deployments_to_schedule(T0 + timedelta(days=1), limit=made["deployments"])
        for behind in every[::extending]:
            store.mark_materialised(behind.deployment, until=T0 + timedelta(minutes=29))
            made["extending"] += 1
    for i in range(due):
        pool, queue = queues[i % len(queues)]
        store.create_run(make_run(pool, queue, at=T0 - timedelta(seconds=30, milliseconds=i)))
    made["pools"], made["due"] = pools, due
    return dict(made)


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):  # a WAL database is up to three files
        found = source.with_name(source.name + suffix)
        if found.exists():
            shutil.copy(found, target.with_name(target.name + suffix))


@dataclass(frozen=True)
class TickRun:
    seconds: float
    peak_mib: float
    calls: Counter[str]
    rows: Counter[str]
    late: int
    dispatch: int


def one_tick(path: Path, *, trace: bool) -> TickRun:
    from core.services.tick import Ticker
    from core.store import open_store

    store = CountingStore(open_store(f"sqlite:///{path}", clock=lambda: T0))
    provider = RecordingProvider()
    ticker = Ticker(
        store=store,  # type: ignore[arg-type]
        clock=lambda: T0,
        pool_types=PushTypes(),
        provider_for=lambda pool: provider,
    )
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    report = ticker.tick()
    seconds = time.perf_counter() - started
    peak = 0.0
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return TickRun(seconds, peak, store.calls, store.rows, report.late, len(report.dispatch))


def scenario(
    tmp: Path,
    label: str,
    *,
    pools: int,
    due: int,
    reps: int,
    active: bool = True,
    extending: int = 0,
) -> tuple[list[Figure], str]:
    seeded = tmp / f"{label}.db"
    clock = Stopwatch()
    made = seed(seeded, pools=pools, due=due, active=active, extending=extending)
    progress(f"{label}: seeded {made} in {clock.seconds:.0f} s")
    runs = []
    for rep in range(reps + 1):
        copy = tmp / f"{label}-{rep}.db"
        copy_database(seeded, copy)
        runs.append(one_tick(copy, trace=rep == reps))
    timed, traced = runs[:-1], runs[-1]
    name = (
        f"{made['pools']:,} pools, {made['deployments']:,} deployments, "
        f"{made['runs']:,} scheduled, {due:,} due{'' if active else ', schedules off'}"
    )
    if extending:
        name += f", {made['extending']:,} to extend"
    calls = ", ".join(
        f"{m} x{traced.calls[m]} ({traced.rows[m]:,} returned)" for m in sorted(traced.calls)
    )
    detail = f"{name}: Late marked {traced.late}, dispatch requests {traced.dispatch}; {calls}"
    return [
        Figure.of(f"tick: {name}", [r.seconds * 1000 for r in timed], unit="ms"),
        Figure.exact(f"peak memory: {name}", round(traced.peak_mib, 1), unit="MiB"),
        Figure.exact(f"objects read: {name}", sum(traced.rows.values()), unit="objects"),
    ], detail


def run(options: dict[str, Any]) -> Result:
    pools, reps = int(options["pools"]), int(options["repetitions"])
    few, many = int(options["few_due"]), int(options["many_due"])
    result = Result(
        name="scale",
        title="one tick over a large SQLite store: duration and peak memory",
        repetitions=f"{reps} timed ticks per scenario on fresh copies, + 1 under tracemalloc",
    )
    with tempfile.TemporaryDirectory(prefix="pushpool-scale-") as tmp:
        for label, size, due, active, extending in (
            ("totals-few-due", pools, few, True, 0),
            ("totals-many-due", pools, many, True, 0),
            ("tenth-few-due", max(pools // 10, 1), few, True, 0),
            ("totals-few-due-off", pools, few, False, 0),
            ("totals-many-due-off", pools, many, False, 0),
            # Half-hour extensions of 6-minute schedules: a thirtieth a tick.
            ("totals-few-due-extending", pools, few, True, 30),
        ):
            figures, detail = scenario(
                Path(tmp),
                label,
                pools=size,
                due=due,
                reps=reps,
                active=active,
                extending=extending,
            )
            result.figures += figures
            result.notes.append(detail)
    result.notes.append(
        "every deployment has an active schedule (a run every 6 min, materialised 1 h ahead, "
        "progress recorded by a tick at seeding); "
        "peak memory is tracemalloc's (Python allocations), not the process RSS"
    )
    return result


BENCHMARKS = [
    Benchmark(
        name="scale",
        title="tick duration and memory: 1,000 pools, 10,000 deployments, 100,000 runs",
        run=run,
        options=(
            Option("pools", 100, 1000, "pools (10 deployments and 100 scheduled runs each)"),
            Option("few_due", 10, 10, "due runs in the 'few' scenarios"),
            Option("many_due", 1000, 10000, "due runs in the 'many' scenario"),
            Option("repetitions", 3, 3, "timed ticks per scenario"),
        ),
    )
]
