"""Work-queue use cases inside one pool.

Priorities stay unique: ``core.rules.queues.place`` computes which queues move, and
the store writes them in one transaction.  The default queue is where runs
land when nothing else is named, so it cannot be deleted (409, where Prefect
answers 500).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from core.errors import Conflict, InvalidInput, NotFound
from core.models import WorkPool, WorkQueue
from core.rules.pools import clean_name
from core.rules.queues import place
from core.rules.status import ReadyStatus, queue_status
from core.services.context import Context
from core.services.materialise import reschedule_deployments
from core.states import StateType, is_late

UPDATE_ATTEMPTS = 5


class QueueChanges(BaseModel):
    """The fields a PATCH names (see ``PoolChanges``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    priority: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class QueueView:
    queue: WorkQueue
    pool: WorkPool
    status: ReadyStatus
    active_slots: int


def view(ctx: Context, pool: WorkPool, queue: WorkQueue, *, active: int | None = None) -> QueueView:
    if active is None:
        active = ctx.store.counters(pool.id).queue_active.get(queue.id, 0)
    status = queue_status(queue, now=ctx.clock())
    return QueueView(queue=queue, pool=pool, status=status, active_slots=active)


def views(ctx: Context, pool: WorkPool, queues: Sequence[WorkQueue]) -> list[QueueView]:
    counters = ctx.store.counters(pool.id).queue_active
    return [view(ctx, pool, q, active=counters.get(q.id, 0)) for q in queues]


def _exists(ctx: Context, pool: WorkPool, name: str) -> bool:
    try:
        ctx.store.get_queue(pool.id, name)
    except NotFound:
        return False
    return True


def create_queue(
    ctx: Context,
    pool_name: str,
    *,
    name: str,
    description: str = "",
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    priority: int | None = None,
) -> WorkQueue:
    """Add a queue; without a priority it takes the first gap in the pool's."""
    pool = ctx.store.get_pool(pool_name)
    checked = clean_name(name, kind="work queue")
    if _exists(ctx, pool, checked):
        raise Conflict(f"work pool {pool.name!r} already has a queue named {checked!r}")
    now = ctx.clock()
    queue = WorkQueue(
        id=ctx.ids(),
        pool_id=pool.id,
        name=checked,
        description=description or "",
        priority=1,
        concurrency_limit=concurrency_limit,
        is_paused=is_paused,
        created=now,
        updated=now,
    )
    placed, *shifted = place(ctx.store.list_queues(pool.id), queue, priority)
    if shifted:
        ctx.store.update_queues(shifted)
    ctx.store.create_queue(placed)
    return placed


def ensure_queue(ctx: Context, pool: WorkPool, name: str) -> WorkQueue:
    """The named queue, created with defaults if missing (deployments and
    runs naming a queue create it, as in Prefect)."""
    try:
        return ctx.store.get_queue(pool.id, clean_name(name, kind="work queue"))
    except NotFound:
        pass
    try:
        return create_queue(ctx, pool.name, name=name)
    except Conflict:
        return ctx.store.get_queue(pool.id, clean_name(name, kind="work queue"))


def existing_queue(ctx: Context, pool: WorkPool, name: str) -> WorkQueue:
    """The pool's queue called ``name``, or an error listing the queues there.

    A run that names a queue may not create it: a typo would otherwise make
    a queue with no limit and the run would escape the limits the user set
    (issue 14).  Creating a queue stays an explicit act.
    """
    try:
        return ctx.store.get_queue(pool.id, clean_name(name, kind="work queue"))
    except NotFound as exc:
        queues = ", ".join(sorted(q.name for q in ctx.store.list_queues(pool.id)))
        raise InvalidInput(
            f"work pool {pool.name!r} has no queue {name!r}; its queues are: {queues}. "
            f"Name one of them, or create it first "
            f"('pushpool work-queue create {name} --pool {pool.name}')",
            path="work_queue_name",
        ) from exc


def get_queue(ctx: Context, pool_name: str, name: str) -> tuple[WorkPool, WorkQueue]:
    pool = ctx.store.get_pool(pool_name)
    return pool, ctx.store.get_queue(pool.id, name)


def get_queue_by_id(ctx: Context, queue_id: str) -> tuple[WorkPool, WorkQueue]:
    """A queue by its id, as Prefect's ``/work_queues/{id}`` routes name it."""
    queue = ctx.store.get_queue_by_id(queue_id)
    return ctx.store.get_pool_by_id(queue.pool_id), queue


def late_runs(ctx: Context, pool: WorkPool, queue: WorkQueue) -> int:
    """How many of the queue's SCHEDULED runs are Late now (Prefect's queue health)."""
    waiting = ctx.store.list_runs(
        pool_id=pool.id, queue_ids=[queue.id], state_types=[StateType.SCHEDULED], limit=10_000
    )
    now = ctx.clock()
    return sum(1 for run in waiting if is_late(run.state, now=now))


def list_queues(
    ctx: Context, pool_name: str, *, names: Sequence[str] | None = None
) -> tuple[WorkPool, list[WorkQueue]]:
    pool = ctx.store.get_pool(pool_name)
    queues = ctx.store.list_queues(pool.id)
    if names is not None:
        queues = [q for q in queues if q.name in set(names)]
    return pool, queues


def _changed(ctx: Context, pool: WorkPool, queue: WorkQueue, changes: QueueChanges) -> WorkQueue:
    given = changes.model_fields_set
    update: dict[str, object] = {"updated": ctx.clock()}
    if "name" in given and changes.name is not None:
        new_name = clean_name(changes.name, kind="work queue")
        if new_name != queue.name and _exists(ctx, pool, new_name):
            raise Conflict(f"work pool {pool.name!r} already has a queue named {new_name!r}")
        update["name"] = new_name
    if "description" in given:
        update["description"] = changes.description or ""
    if "is_paused" in given and changes.is_paused is not None:
        update["is_paused"] = changes.is_paused
    if "concurrency_limit" in given:
        update["concurrency_limit"] = changes.concurrency_limit
    return queue.model_copy(update=update)


def _frees_capacity(before: WorkQueue, after: WorkQueue) -> bool:
    if before.is_paused and not after.is_paused:
        return True
    old, new = before.concurrency_limit, after.concurrency_limit
    return old is not None and (new is None or new > old)


def update_queue(ctx: Context, pool_name: str, name: str, changes: QueueChanges) -> WorkQueue:
    """Apply ``changes``; a new priority reshuffles the pool's queues in one write."""
    for attempt in range(UPDATE_ATTEMPTS):
        pool, queue = get_queue(ctx, pool_name, name)
        changed = _changed(ctx, pool, queue, changes)
        if "priority" in changes.model_fields_set and changes.priority is not None:
            writes = place(ctx.store.list_queues(pool.id), changed, changes.priority)
        else:
            writes = [changed]
        try:
            stored = ctx.store.update_queues(writes)
        except Conflict:
            if attempt == UPDATE_ATTEMPTS - 1:
                raise
            continue
        result = next(q for q in stored if q.id == queue.id)
        if _frees_capacity(queue, result):
            ctx.trigger.request_dispatch(pool.name)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def delete_queue(ctx: Context, pool_name: str, name: str) -> None:
    pool, queue = get_queue(ctx, pool_name, name)
    if queue.id == pool.default_queue_id:
        raise Conflict(
            f"{queue.name!r} is the default queue of work pool {pool.name!r} and cannot be "
            "deleted; pause it, or delete the work pool"
        )
    ctx.store.delete_queue(queue)
    reschedule_deployments(ctx, pool.name, queue_name=queue.name)
