"""``/work_pools/{name}/workers``: heartbeats and listings (Prefect's shapes)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.services import workers
from handlers.api.request import caller, ctx, name, no_content
from handlers.api.schemas.pools import Worker, WorkerFilter, WorkerHeartbeat

router = APIGatewayHttpRouter()
TAGS = ["Work Pools"]


@router.post("/work_pools/<pool>/workers/heartbeat", summary="Worker heartbeat", tags=TAGS)
def worker_heartbeat(pool: str, body: WorkerHeartbeat) -> Response[None]:
    pool = name(pool)
    caller().require_pool(pool)
    workers.heartbeat(ctx(), pool, body.name, interval_seconds=body.heartbeat_interval_seconds)
    return no_content()


@router.post("/work_pools/<pool>/workers/filter", summary="Read a pool's workers", tags=TAGS)
def read_workers(pool: str, body: WorkerFilter | None = None) -> list[Worker]:
    pool = name(pool)
    caller().require_pool(pool)
    where = body or WorkerFilter()
    views = workers.list_workers(ctx(), pool)
    if where.workers and where.workers.status and where.workers.status.any_ is not None:
        wanted = set(where.workers.status.any_)
        views = [v for v in views if v.status.value in wanted]
    return [Worker.of(v) for v in views[where.offset : where.offset + where.limit]]


@router.delete("/work_pools/<pool>/workers/<worker>", summary="Delete a worker", tags=TAGS)
def delete_worker(pool: str, worker: str) -> Response[None]:
    pool = name(pool)
    caller().require_pool(pool)
    workers.delete_worker(ctx(), pool, name(worker))
    return no_content()
