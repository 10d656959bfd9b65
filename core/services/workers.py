"""Worker heartbeats and listings.

A worker's ONLINE/OFFLINE status is computed when read (``core.rules.status``),
so nothing has to sweep stale workers for the status to be right.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput
from core.models import Worker, WorkPool
from core.rules.status import WorkerStatus, worker_status
from core.services.context import Context

MAX_HEARTBEAT_INTERVAL = 24 * 3600


@dataclass(frozen=True)
class WorkerView:
    worker: Worker
    pool: WorkPool
    status: WorkerStatus


def heartbeat(
    ctx: Context, pool_name: str, name: str, *, interval_seconds: int | None = None
) -> Worker:
    """Record that ``name`` is alive; creates the worker on its first beat."""
    checked = name.strip()
    if not checked:
        raise InvalidInput("the worker name is empty; give a name", path="name")
    if interval_seconds is not None and not 0 < interval_seconds <= MAX_HEARTBEAT_INTERVAL:
        raise InvalidInput(
            f"must be between 1 and {MAX_HEARTBEAT_INTERVAL} seconds",
            path="heartbeat_interval_seconds",
        )
    pool = ctx.store.get_pool(pool_name)
    return ctx.store.heartbeat(pool.id, checked, at=ctx.clock(), interval_seconds=interval_seconds)


def list_workers(ctx: Context, pool_name: str) -> list[WorkerView]:
    pool = ctx.store.get_pool(pool_name)
    now = ctx.clock()
    workers = sorted(ctx.store.list_workers(pool.id), key=lambda w: w.name)
    return [WorkerView(worker=w, pool=pool, status=worker_status(w, now=now)) for w in workers]


def delete_worker(ctx: Context, pool_name: str, name: str) -> None:
    pool = ctx.store.get_pool(pool_name)
    ctx.store.delete_worker(pool.id, name)
