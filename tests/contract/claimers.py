"""Claimers and a checker for the concurrency tests, importable by child processes.

A claimer thread repeatedly lists the pool's due runs, tries to claim one
(losing races is expected), and walks what it won through RUNNING to
COMPLETED.  The checker samples what the store holds and counts every
observation in which a limit was respected; any violation is recorded with
what was seen.  Functions here take plain values (a store URL, ids, limits)
so they can run in spawned processes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from core.errors import CapacityFull, Conflict, Transient
from core.ports import Store
from core.states import StateType
from core.store import open_store
from tests.contract.builders import LEASE, NOW, pending, state

FAR = NOW + timedelta(days=1)
DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class Limits:
    pool_id: str
    pool: int | None
    queues: dict[str, int | None]


@dataclass
class Tally:
    """What one process saw: runs it claimed, checks made, violations found."""

    claimed: list[str] = field(default_factory=list)
    checks: int = 0
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def merge(self, other: Tally) -> None:
        with self.lock:
            self.claimed += other.claimed
            self.checks += other.checks
            self.violations += other.violations

    def export(self) -> tuple[list[str], int, list[str]]:
        return self.claimed, self.checks, self.violations


def check_active(store: Store, limits: Limits, tally: Tally) -> None:
    """Count slot-holding runs (from the runs) and the counters; compare with limits."""
    active = store.list_active(limits.pool_id)
    counters = store.counters(limits.pool_id)
    per_queue = Counter(run.work_queue_id for run in active)
    seen = [("pool", len(active), limits.pool), ("pool counter", counters.pool_active, limits.pool)]
    for queue_id, limit in limits.queues.items():
        seen.append((f"queue {queue_id}", per_queue[queue_id], limit))
        seen.append((f"queue counter {queue_id}", counters.queue_active[queue_id], limit))
    for what, count, limit in seen:
        tally.checks += 1
        if limit is not None and count > limit:
            tally.violations.append(f"{what}: {count} active, limit {limit}")


def _retrying(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    while True:
        try:
            return call(*args, **kwargs)
        except Transient:
            time.sleep(random.uniform(0.001, 0.01))


def claim_loop(store: Store, limits: Limits, tally: Tally) -> None:
    """Claim and complete runs until none is due; check limits after each claim."""
    rng = random.Random()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        due = _retrying(store.list_due, limits.pool_id, FAR)
        if not due:
            return
        run = rng.choice(due[:8])
        try:
            claimed = store.claim(run, state=pending(), lease_expires=NOW + LEASE)
        except (CapacityFull, Conflict, Transient):
            time.sleep(rng.uniform(0, 0.002))
            continue
        tally.claimed.append(claimed.id)
        _retrying(check_active, store, limits, tally)
        time.sleep(rng.uniform(0, 0.003))
        running = _retrying(store.record_state, claimed, state(StateType.RUNNING))
        time.sleep(rng.uniform(0, 0.003))
        _retrying(store.record_state, running, state(StateType.COMPLETED))
    tally.violations.append("claimer gave up at its deadline")


def run_claimers(store: Store, limits: Limits, threads: int) -> Tally:
    """Run ``threads`` claimers on one store and merge what they saw."""
    total = Tally()
    tallies = [Tally() for _ in range(threads)]
    workers = [
        threading.Thread(target=claim_loop, args=(store, limits, tally)) for tally in tallies
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for tally in tallies:
        total.merge(tally)
    return total


def claimer_process(url: str, limits: Limits, threads: int) -> tuple[list[str], int, list[str]]:
    """Entry point of a claiming process: its own store connection, ``threads`` threads."""
    return run_claimers(open_store(url), limits, threads).export()


def checker_process(url: str, limits: Limits) -> tuple[list[str], int, list[str]]:
    """Sample the store until no run is left to admit or finish."""
    store = open_store(url)
    tally = Tally()
    unfinished = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        _retrying(check_active, store, limits, tally)
        if not _retrying(store.list_runs, pool_id=limits.pool_id, state_types=unfinished, limit=1):
            return tally.export()
    tally.violations.append("checker gave up at its deadline")
    return tally.export()
