"""``/work_pools/``: create, read, filter, update, delete, slots.

Paths, bodies and status codes are Prefect's (201 on create, 204 on PATCH and
DELETE, 403 for reserved names, 409 for duplicates).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.services import pools, queues
from core.states import StateType
from handlers.api.request import caller, ctx, name, no_content, reply
from handlers.api.schemas.pools import (
    ConcurrencyStatusRequest,
    PoolConcurrency,
    QueueConcurrency,
    SlotHolder,
    WorkPool,
    WorkPoolCreate,
    WorkPoolFilter,
    WorkPoolUpdate,
)

router = APIGatewayHttpRouter()
TAGS = ["Work Pools"]


def _out(pool_name: str) -> WorkPool:
    context = ctx()
    return WorkPool.of(pools.view(context, context.store.get_pool(pool_name)))


@router.post("/work_pools/", summary="Create a work pool", tags=TAGS)
def create_work_pool(body: WorkPoolCreate) -> Response[WorkPool]:
    caller().require_admin()
    pool = pools.create_pool(
        ctx(),
        name=body.name,
        pool_type=body.type,
        description=body.description or "",
        base_job_template=body.base_job_template,
        is_paused=body.is_paused,
        concurrency_limit=body.concurrency_limit,
        late_runs=body.late_runs,
    )
    return reply(201, _out(pool.name))


@router.post("/work_pools/filter", summary="Read work pools", tags=TAGS)
def read_work_pools(body: WorkPoolFilter | None = None) -> list[WorkPool]:
    caller().require_admin()
    where = body or WorkPoolFilter()
    fields = where.work_pools
    context = ctx()
    found = pools.list_pools(
        context,
        names=fields.name.any_ if fields and fields.name else None,
        ids=fields.id.any_ if fields and fields.id else None,
        types=fields.type.any_ if fields and fields.type else None,
        offset=where.offset,
        limit=where.limit,
    )
    return [WorkPool.of(pools.view(context, p)) for p in found]


@router.post("/work_pools/count", summary="Count work pools", tags=TAGS)
def count_work_pools(body: WorkPoolFilter | None = None) -> int:
    return len(read_work_pools(body))


@router.get("/work_pools/<pool>", summary="Read a work pool", tags=TAGS)
def read_work_pool(pool: str) -> WorkPool:
    pool = name(pool)
    caller().require_pool(pool)
    return _out(pool)


@router.patch("/work_pools/<pool>", summary="Update a work pool", tags=TAGS)
def update_work_pool(pool: str, body: WorkPoolUpdate) -> Response[None]:
    caller().require_admin()
    changes = body.model_dump(exclude_unset=True, exclude={"storage_configuration"})
    pools.update_pool(ctx(), name(pool), pools.PoolChanges(**changes))
    return no_content()


@router.delete("/work_pools/<pool>", summary="Delete a work pool", tags=TAGS)
def delete_work_pool(pool: str) -> Response[None]:
    caller().require_admin()
    pools.delete_pool(ctx(), name(pool))
    return no_content()


@router.post(
    "/work_pools/<pool>/concurrency_status",
    summary="Slots in use per queue, with the runs holding them",
    tags=TAGS,
)
def read_concurrency_status(
    pool: str, body: Annotated[ConcurrencyStatusRequest | None, Body()] = None
) -> PoolConcurrency:
    pool = name(pool)
    caller().require_pool(pool)
    request = body or ConcurrencyStatusRequest()
    context = ctx()
    work_pool, pool_queues = queues.list_queues(context, pool)
    counters = context.store.counters(work_pool.id)
    holders = context.store.list_active(work_pool.id)
    start = (request.page - 1) * request.limit
    page = pool_queues[start : start + request.limit]
    details = []
    for queue in page:
        runs = [r for r in holders if r.work_queue_id == queue.id]
        runs.sort(key=lambda r: r.state.timestamp)
        details.append(
            QueueConcurrency(
                queue_id=queue.id,
                queue_name=queue.name,
                priority=queue.priority,
                active_slots=counters.queue_active.get(queue.id, 0),
                concurrency_limit=queue.concurrency_limit,
                is_paused=queue.is_paused,
                flow_runs=[
                    SlotHolder(
                        id=r.id,
                        name=r.name,
                        state_type=StateType(r.state.type).value,
                        state_name=r.state.name,
                        state_timestamp=r.state.timestamp,
                    )
                    for r in runs[: request.flow_run_limit]
                ],
                flow_run_count=len(runs),
            )
        )
    return PoolConcurrency(
        active_slots=counters.pool_active,
        concurrency_limit=work_pool.concurrency_limit,
        queues=details,
        count=len(pool_queues),
        limit=request.limit,
        pages=-(-len(pool_queues) // request.limit),
        page=request.page,
    )
