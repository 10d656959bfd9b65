"""The waterfall of design §3: which SCHEDULED runs a pool releases now, and
why every other candidate waits.

Pure and deterministic over a :class:`Snapshot`, so the same function serves
the dispatcher (what to claim), a worker's poll (what it may take) and
``work-pool preview`` (what waits and why).  The planner never enforces a
limit by itself: the store's conditional claim stays the final arbiter, and
a lost race only means the service plans again from a fresh snapshot.

The semantics are Prefect's: each non-paused queue offers its due runs in
time order, capped by its own free slots; the pool's free slots then go to
the offers of priority 1, then 2, and so on.  A queue held back by its own
limit therefore passes the spare pool slots down, and priority beats
lateness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import FlowRun, WorkPool, WorkQueue
from core.ports import SlotCounters
from core.states import StateType


class WaitReason(StrEnum):
    """Why a candidate run was not released, most fundamental cause first."""

    POOL_PAUSED = "pool paused"
    QUEUE_PAUSED = "queue paused"
    QUEUE_MISSING = "queue not found"
    NOT_YET_DUE = "not yet due"
    QUEUE_FULL = "queue full"
    POOL_FULL = "pool full"


@dataclass(frozen=True)
class Waiting:
    run: FlowRun
    reason: WaitReason


@dataclass(frozen=True)
class Snapshot:
    """What the planner sees of one pool at one moment.

    ``runs`` are candidate runs as read from the store; anything that is not
    a SCHEDULED run of this pool is ignored, so a slightly stale or generous
    read is safe.  ``counters`` are the slots held right now, by every queue
    of the pool (paused queues included).
    """

    pool: WorkPool
    queues: Sequence[WorkQueue]
    counters: SlotCounters
    runs: Sequence[FlowRun]
    now: datetime
    window: timedelta = timedelta(0)

    @property
    def horizon(self) -> datetime:
        """Runs scheduled at or before this instant are due."""
        return self.now + self.window


@dataclass(frozen=True)
class Plan:
    """Releases in claim order, and every other candidate with its reason."""

    releases: tuple[FlowRun, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    pool_free: int | None = field(default=None)
    queue_free: dict[str, int | None] = field(default_factory=dict)

    def reason_for(self, run_id: str) -> WaitReason | None:
        """Why ``run_id`` waits, or None if it is released (or unknown)."""
        return next((w.reason for w in self.waiting if w.run.id == run_id), None)


def free_slots(limit: int | None, active: int) -> int | None:
    """Free slots under ``limit`` (None = unlimited); never negative, even
    when drifted counters say more are held than allowed."""
    if limit is None:
        return None
    return max(0, limit - active)


def _ordered_queues(queues: Sequence[WorkQueue]) -> list[WorkQueue]:
    # Priorities are unique within a pool; the id only makes a corrupt
    # snapshot deterministic instead of arbitrary.
    return sorted(queues, key=lambda q: (q.priority, q.id))


def _run_key(run: FlowRun) -> tuple[datetime, str]:
    return (run.next_scheduled_start_time, run.id)


def _candidates(snapshot: Snapshot) -> dict[str, list[FlowRun]]:
    by_queue: dict[str, list[FlowRun]] = {}
    for run in snapshot.runs:
        if run.work_pool_id != snapshot.pool.id or run.state.type is not StateType.SCHEDULED:
            continue
        by_queue.setdefault(run.work_queue_id, []).append(run)
    for runs in by_queue.values():
        runs.sort(key=_run_key)
    return by_queue


def plan(snapshot: Snapshot) -> Plan:
    """The waterfall over ``snapshot``: releases ordered by (queue priority,
    scheduled time, run id), capped per queue by its free slots and overall
    by the pool's; the reason for every candidate left waiting."""
    pool = snapshot.pool
    by_queue = _candidates(snapshot)
    pool_free = free_slots(pool.concurrency_limit, snapshot.counters.pool_active)
    remaining = pool_free
    releases: list[FlowRun] = []
    waiting: list[Waiting] = []
    queue_free: dict[str, int | None] = {}

    for queue in _ordered_queues(snapshot.queues):
        runs = by_queue.pop(queue.id, [])
        active = snapshot.counters.queue_active.get(queue.id, 0)
        queue_free[queue.id] = free_slots(queue.concurrency_limit, active)
        if pool.is_paused or queue.is_paused:
            reason = WaitReason.POOL_PAUSED if pool.is_paused else WaitReason.QUEUE_PAUSED
            waiting.extend(Waiting(run, reason) for run in runs)
            continue
        offered = queue_free[queue.id]
        for run in runs:
            if run.next_scheduled_start_time > snapshot.horizon:
                waiting.append(Waiting(run, WaitReason.NOT_YET_DUE))
            elif offered is not None and offered <= 0:
                waiting.append(Waiting(run, WaitReason.QUEUE_FULL))
            elif remaining is not None and remaining <= 0:
                waiting.append(Waiting(run, WaitReason.POOL_FULL))
            else:
                releases.append(run)
                offered = None if offered is None else offered - 1
                remaining = None if remaining is None else remaining - 1

    orphans = sorted((run for runs in by_queue.values() for run in runs), key=_run_key)
    waiting.extend(Waiting(run, WaitReason.QUEUE_MISSING) for run in orphans)
    return Plan(
        releases=tuple(releases),
        waiting=tuple(waiting),
        pool_free=pool_free,
        queue_free=queue_free,
    )
