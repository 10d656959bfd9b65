"""Admission throughput: runs claimed per second from one pool, 1/4/16 dispatchers.

One pool, three queues (priorities 1-3), N SCHEDULED runs all due, no
limits.  Each dispatcher is a thread with its own store (as separate
Lambda instances or servers would have) requesting passes (``admit``, 50
claims a pass) in the pool's turn (``core.services.pool_turns``), as the
dispatch function does, until nothing is left: one holds the turn, the
others' requests mark it and the holder passes again.  Every claim is the
store's one conditional write; a lost race is a *conflict*
(``Admission.lost``), and the conflict rate is lost / (claimed + lost).  After each run the store must
hold every run exactly once as PENDING; anything else is reported as an
error, not a figure.

SQLite: one file per repetition, copied from a file seeded once.  DynamoDB:
``ThreadedMotoServer`` over HTTP, a fresh table per configuration.  moto's
DynamoDB is serialised by one lock (``tests.contract.moto_serial``), as it
is not linearizable on its own: its figures show the store's request
pattern and conflict behaviour, not DynamoDB's throughput.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.errors import Transient
from core.ports import Store
from core.services.admission import Admission, admit
from core.services.pool_turns import in_turn
from core.states import StateType
from tests.bench.harness import (
    Benchmark,
    Figure,
    Option,
    Result,
    Stopwatch,
    fake_aws_environment,
    progress,
)
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, make_queue, make_run

POOL = "throughput"
CLAIMS_PER_PASS = 50
# A request that found the pool busy is followed by the next this much later
# (another message), so waiting dispatchers do not spin on the store.
MESSAGE_GAP = 0.005


clock = FakeClock(NOW + timedelta(hours=1))  # every seeded run is due; the clock never moves


def seed(store: Store, runs: int) -> None:
    pool, default = add_pool(store, POOL)
    queues = [default]
    for priority in (2, 3):
        queue = make_queue(pool, f"q{priority}", priority=priority)
        store.create_queue(queue)
        queues.append(queue)
    for i in range(runs):
        queue = queues[i % 3]
        store.create_run(make_run(pool, queue, at=NOW - timedelta(milliseconds=runs - i)))


@dataclass
class Tally:
    claimed: int = 0
    lost: int = 0
    passes: int = 0
    busy: int = 0
    marked: int = 0  # requests that found the pool's turn held and left it a mark
    error: str = ""


def dispatcher(store: Store, start: threading.Barrier, tally: Tally) -> None:
    """Request passes until nothing is left, each in the pool's turn
    (``core.services.pool_turns``), as the dispatch function does; a request
    that finds the turn held is one message handled by marking it, and the
    next comes a moment later.  A busy store is retried, as the server's
    loop does."""
    start.wait()
    pool_id = store.get_pool(POOL).id
    ids = itertools.count()
    prefix = f"{threading.get_ident()}-"

    def one_pass(_resume: bool) -> Admission:
        return admit(store, POOL, clock=clock, max_claims=CLAIMS_PER_PASS)

    try:
        while True:
            try:
                turn = in_turn(
                    store,
                    pool_id,
                    one_pass,
                    holder=prefix + str(next(ids)),
                    clock=clock,
                    resume=False,
                )
            except Transient:
                tally.busy += 1
                time.sleep(0.05)
                continue
            if turn.held_elsewhere:
                tally.marked += 1
                if not store.list_due(pool_id, clock(), limit=1):
                    return
                time.sleep(MESSAGE_GAP)
                continue
            for admission in turn.passes:
                tally.claimed += len(admission.claimed)
                tally.lost += admission.lost
                tally.passes += 1
            last = turn.passes[-1]
            if not last.claimed and not last.lost and not last.waiting:
                return
    except Exception as exc:  # reported, not swallowed: the figures would lie
        tally.error = f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Trial:
    seconds: float
    claimed: int
    lost: int
    passes: int
    busy: int
    marked: int


def trial(stores: list[Store], check: Store, runs: int) -> Trial:
    start = threading.Barrier(len(stores) + 1)
    tallies = [Tally() for _ in stores]
    threads = [
        threading.Thread(target=dispatcher, args=(s, start, t), daemon=True)
        for s, t in zip(stores, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    clock_ = Stopwatch()
    for thread in threads:
        thread.join()
    seconds = clock_.seconds
    errors = [t.error for t in tallies if t.error]
    if errors:
        raise RuntimeError(f"a dispatcher failed: {errors[0]}")
    claimed = sum(t.claimed for t in tallies)
    pending = check.list_active(check.get_pool(POOL).id)
    if claimed != runs or len({r.id for r in pending}) != runs:
        raise RuntimeError(f"claimed {claimed} of {runs}; {len(pending)} runs hold slots")
    if any(r.state.type is not StateType.PENDING for r in pending):
        raise RuntimeError("a claimed run is not PENDING")
    return Trial(
        seconds,
        claimed,
        lost=sum(t.lost for t in tallies),
        passes=sum(t.passes for t in tallies),
        busy=sum(t.busy for t in tallies),
        marked=sum(t.marked for t in tallies),
    )


def sqlite_trials(runs: int, concurrency: int, repetitions: int, seeded: Path) -> list[Trial]:
    from core.store import open_store

    trials = []
    for rep in range(repetitions):
        copy = seeded.with_name(f"run-{concurrency}-{rep}.db")
        for suffix in ("", "-wal", "-shm"):  # a WAL database is up to three files
            source = seeded.with_name(seeded.name + suffix)
            if source.exists():
                shutil.copy(source, copy.with_name(copy.name + suffix))
        stores = [open_store(f"sqlite:///{copy}") for _ in range(concurrency)]
        trials.append(trial(stores, open_store(f"sqlite:///{copy}"), runs))
        progress(
            f"sqlite, {concurrency} dispatchers, repetition {rep + 1}: "
            f"{runs / trials[-1].seconds:,.0f} claims/s"
        )
    return trials


def dynamodb_trials(runs: int, concurrency: int, repetitions: int, endpoint: str) -> list[Trial]:
    import boto3

    from core.store.dynamodb import DynamoStore, create_table

    trials = []
    for rep in range(repetitions):
        table = f"throughput-{concurrency}-{rep}"

        def client() -> Any:
            return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")

        create_table(client(), table)
        seed(DynamoStore(table, client=client()), runs)
        stores: list[Store] = [DynamoStore(table, client=client()) for _ in range(concurrency)]
        trials.append(trial(stores, DynamoStore(table, client=client()), runs))
        progress(
            f"dynamodb, {concurrency} dispatchers, repetition {rep + 1}: "
            f"{runs / trials[-1].seconds:,.0f} claims/s"
        )
    return trials


def figures(label: str, trials: list[Trial], runs: int) -> list[Figure]:
    rates = [runs / t.seconds for t in trials]
    conflicts = [100 * t.lost / (t.claimed + t.lost) for t in trials]
    return [
        Figure.of(f"{label}: claims/s", rates, unit="runs/s"),
        Figure.of(f"{label}: conflict rate", conflicts, unit="%"),
        Figure.of(f"{label}: passes", [t.passes for t in trials], unit="passes"),
        Figure.of(f"{label}: passes retried, store busy", [t.busy for t in trials], unit="passes"),
        Figure.of(
            f"{label}: requests marked, pool busy", [t.marked for t in trials], unit="requests"
        ),
    ]


def run(options: dict[str, Any]) -> Result:
    levels = [int(c) for c in str(options["dispatchers"]).split(",")]
    reps = int(options["repetitions"])
    result = Result(
        name="admission",
        title="runs claimed per second from one pool, 3 queues",
        repetitions=f"SQLite {reps} repetitions per level; DynamoDB (moto server) "
        f"{options['dynamodb_repetitions']} per level",
        notes=[
            "dispatchers are threads with one store each; 2 cores and the GIL bound the "
            "CPU-side work, SQLite serialises writers on its file lock",
            f"{CLAIMS_PER_PASS} claims per pass (DEFAULT_MAX_CLAIMS); no limits, so every "
            "dispatcher plans the same first runs: conflicts measure that contention",
            "DynamoDB on ThreadedMotoServer with every request serialised by one lock "
            "(moto is not linearizable), and moto copies the whole table for every "
            "transaction: a caveat; these figures show conflicts, not DynamoDB's throughput",
        ],
    )
    sqlite_runs = int(options["runs"])
    with tempfile.TemporaryDirectory(prefix="pushpool-admission-") as tmp:
        from core.store import open_store

        seeded = Path(tmp) / "seed.db"
        clock_ = Stopwatch()
        seed(open_store(f"sqlite:///{seeded}"), sqlite_runs)
        progress(f"seeded {sqlite_runs} runs in {clock_.seconds:.1f} s")
        for level in levels:
            trials = sqlite_trials(sqlite_runs, level, reps, seeded)
            result.figures += figures(f"SQLite, {level} dispatchers", trials, sqlite_runs)
    dynamo_runs = int(options["dynamodb_runs"])
    if dynamo_runs:
        result.figures += _dynamodb(levels, dynamo_runs, int(options["dynamodb_repetitions"]))
    result.params["runs per DynamoDB trial"] = dynamo_runs
    return result


def _dynamodb(levels: list[int], runs: int, reps: int) -> list[Figure]:
    from tests.contract.backends import running_moto_server
    from tests.contract.moto_serial import serialize_moto_dynamodb

    found: list[Figure] = []
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    with fake_aws_environment(), running_moto_server() as endpoint:
        serialize_moto_dynamodb()
        for level in levels:
            trials = dynamodb_trials(runs, level, reps, endpoint)
            found += figures(f"DynamoDB (moto), {level} dispatchers", trials, runs)
    return found


BENCHMARKS = [
    Benchmark(
        name="admission",
        title="admission throughput and conflict rate, 1/4/16 dispatchers",
        run=run,
        options=(
            Option("runs", 2000, 10000, "SCHEDULED runs in the pool (SQLite)"),
            Option("dispatchers", "1,4,16", "1,4,16", "concurrent dispatchers, comma-separated"),
            Option("repetitions", 3, 3, "repetitions per level (SQLite)"),
            Option("dynamodb_runs", 100, 10000, "runs per DynamoDB trial (0 skips DynamoDB)"),
            Option("dynamodb_repetitions", 1, 1, "repetitions per level (DynamoDB)"),
        ),
    )
]
