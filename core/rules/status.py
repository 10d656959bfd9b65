"""Statuses derived at read time from stored facts and the clock.

Nothing here is ever stored: a status flag that a background job must keep
fresh goes stale the moment that job fails (one of Prefect's weaknesses).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import Worker, WorkPool, WorkQueue
from core.ports import PoolMode

DEFAULT_HEARTBEAT_SECONDS = 30
QUEUE_READY_WINDOW = timedelta(seconds=60)


class WorkerStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


class ReadyStatus(StrEnum):
    READY = "READY"
    NOT_READY = "NOT_READY"
    PAUSED = "PAUSED"


def worker_status(worker: Worker, *, now: datetime) -> WorkerStatus:
    interval = worker.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
    fresh = now - worker.last_heartbeat_time < timedelta(seconds=3 * interval)
    return WorkerStatus.ONLINE if fresh else WorkerStatus.OFFLINE


@dataclass(frozen=True)
class PoolReadiness:
    """A pool's status and, when it is not READY, what to fix."""

    status: ReadyStatus
    reason: str | None = None


def pool_readiness(
    pool: WorkPool,
    *,
    mode: PoolMode,
    workers: Iterable[Worker],
    now: datetime,
    setup_problem: str | None = None,
) -> PoolReadiness:
    """PAUSED, else READY unless something that can fail has.

    A pull pool fails without an ONLINE worker.  A push or managed pool has
    no worker and may sit idle for days, so idleness is not a failure; what
    can fail is the dispatch set-up for its type (``setup_problem``, from the
    composition root: no dispatch function for the family, say) and the last
    dispatch pass that tried to submit (``pool.dispatch_problem``: rejected
    credentials, a missing SDK, an API refusing every job).
    """
    if pool.is_paused:
        return PoolReadiness(ReadyStatus.PAUSED)
    if mode is PoolMode.PULL:
        if any(worker_status(w, now=now) is WorkerStatus.ONLINE for w in workers):
            return PoolReadiness(ReadyStatus.READY)
        return PoolReadiness(ReadyStatus.NOT_READY, "no worker has sent a heartbeat recently")
    if setup_problem:
        return PoolReadiness(ReadyStatus.NOT_READY, setup_problem)
    if pool.dispatch_problem:
        reason = f"the last dispatch pass submitted nothing: {pool.dispatch_problem}"
        return PoolReadiness(ReadyStatus.NOT_READY, reason)
    return PoolReadiness(ReadyStatus.READY)


def queue_status(queue: WorkQueue, *, now: datetime) -> ReadyStatus:
    if queue.is_paused:
        return ReadyStatus.PAUSED
    polled = queue.last_polled
    if polled is not None and now - polled < QUEUE_READY_WINDOW:
        return ReadyStatus.READY
    return ReadyStatus.NOT_READY
