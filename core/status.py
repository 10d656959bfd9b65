"""Statuses derived at read time from stored facts and the clock.

Nothing here is ever stored: a status flag that a background job must keep
fresh goes stale the moment that job fails (one of Prefect's weaknesses).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import Worker, WorkPool, WorkQueue
from core.ports import PoolMode

DEFAULT_HEARTBEAT_SECONDS = 30
QUEUE_READY_WINDOW = timedelta(seconds=60)
DISPATCHER_READY_WINDOW = timedelta(minutes=2)


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


def pool_status(
    pool: WorkPool, *, mode: PoolMode, workers: Iterable[Worker], now: datetime
) -> ReadyStatus:
    if pool.is_paused:
        return ReadyStatus.PAUSED
    if mode is PoolMode.PULL:
        online = any(worker_status(w, now=now) is WorkerStatus.ONLINE for w in workers)
        return ReadyStatus.READY if online else ReadyStatus.NOT_READY
    dispatched = pool.last_dispatched
    if dispatched is not None and now - dispatched < DISPATCHER_READY_WINDOW:
        return ReadyStatus.READY
    return ReadyStatus.NOT_READY


def queue_status(queue: WorkQueue, *, now: datetime) -> ReadyStatus:
    if queue.is_paused:
        return ReadyStatus.PAUSED
    polled = queue.last_polled
    if polled is not None and now - polled < QUEUE_READY_WINDOW:
        return ReadyStatus.READY
    return ReadyStatus.NOT_READY
