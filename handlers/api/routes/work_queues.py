"""``/work_pools/{name}/queues``: a pool's queues (Prefect's paths and codes),
and Prefect's ``/work_queues/{id}``, which its CLI and client use to read,
pause, limit and delete a queue they looked up by name."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.rules.status import ReadyStatus
from core.services import queues
from handlers.api.request import caller, ctx, name, no_content, reply
from handlers.api.schemas.pools import (
    HealthPolicy,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueFilter,
    WorkQueueHealth,
    WorkQueueUpdate,
)

router = APIGatewayHttpRouter()
TAGS = ["Work Pools"]


@router.post("/work_pools/<pool>/queues", summary="Create a work queue", tags=TAGS)
def create_work_queue(pool: str, body: WorkQueueCreate) -> Response[WorkQueue]:
    caller().require_admin()
    context = ctx()
    queue = queues.create_queue(
        context,
        name(pool),
        name=body.name,
        description=body.description or "",
        is_paused=body.is_paused,
        concurrency_limit=body.concurrency_limit,
        priority=body.priority,
    )
    work_pool, stored = queues.get_queue(context, name(pool), queue.name)
    return reply(201, WorkQueue.of(queues.view(context, work_pool, stored)))


@router.post("/work_pools/<pool>/queues/filter", summary="Read a pool's work queues", tags=TAGS)
def read_work_queues(pool: str, body: WorkQueueFilter | None = None) -> list[WorkQueue]:
    pool = name(pool)
    caller().require_pool(pool)
    where = body or WorkQueueFilter()
    names = where.work_queues.name.any_ if where.work_queues and where.work_queues.name else None
    context = ctx()
    work_pool, found = queues.list_queues(context, pool, names=names)
    page = found[where.offset : where.offset + where.limit]
    return [WorkQueue.of(v) for v in queues.views(context, work_pool, page)]


@router.get("/work_pools/<pool>/queues/<queue>", summary="Read a work queue", tags=TAGS)
def read_work_queue(pool: str, queue: str) -> WorkQueue:
    pool = name(pool)
    caller().require_pool(pool)
    context = ctx()
    work_pool, stored = queues.get_queue(context, pool, name(queue))
    return WorkQueue.of(queues.view(context, work_pool, stored))


@router.patch("/work_pools/<pool>/queues/<queue>", summary="Update a work queue", tags=TAGS)
def update_work_queue(pool: str, queue: str, body: WorkQueueUpdate) -> Response[None]:
    caller().require_admin()
    changes = body.model_dump(exclude_unset=True, exclude={"last_polled"})
    queues.update_queue(ctx(), name(pool), name(queue), queues.QueueChanges(**changes))
    return no_content()


@router.delete("/work_pools/<pool>/queues/<queue>", summary="Delete a work queue", tags=TAGS)
def delete_work_queue(pool: str, queue: str) -> Response[None]:
    caller().require_admin()
    queues.delete_queue(ctx(), name(pool), name(queue))
    return no_content()


def _by_id(queue_id: str) -> tuple[str, str]:
    work_pool, queue = queues.get_queue_by_id(ctx(), name(queue_id))
    return work_pool.name, queue.name


@router.get("/work_queues/<queue_id>", summary="Read a work queue by id", tags=TAGS)
def read_work_queue_by_id(queue_id: str) -> WorkQueue:
    pool, queue = _by_id(queue_id)
    return read_work_queue(pool, queue)


@router.patch("/work_queues/<queue_id>", summary="Update a work queue by id", tags=TAGS)
def update_work_queue_by_id(queue_id: str, body: WorkQueueUpdate) -> Response[None]:
    caller().require_admin()
    pool, queue = _by_id(queue_id)
    return update_work_queue(pool, queue, body)


@router.delete("/work_queues/<queue_id>", summary="Delete a work queue by id", tags=TAGS)
def delete_work_queue_by_id(queue_id: str) -> Response[None]:
    caller().require_admin()
    pool, queue = _by_id(queue_id)
    return delete_work_queue(pool, queue)


@router.get("/work_queues/<queue_id>/status", summary="A work queue's health", tags=TAGS)
def read_work_queue_status(queue_id: str) -> WorkQueueHealth:
    """Prefect's ``WorkQueueStatusDetail``: healthy when polled in the last 60 s
    (READY) and no run is Late."""
    context = ctx()
    work_pool, queue = queues.get_queue_by_id(context, name(queue_id))
    caller().require_pool(work_pool.name)
    late = queues.late_runs(context, work_pool, queue)
    status = queues.view(context, work_pool, queue).status
    return WorkQueueHealth(
        healthy=status == ReadyStatus.READY and late == 0,
        late_runs_count=late,
        last_polled=queue.last_polled,
        health_check_policy=HealthPolicy(),
    )
