"""``get_scheduled_flow_runs`` (a worker's poll) and ``preview`` (what waits, why).

A poll with ``wait_seconds`` and nothing to offer is held on the local
server until a wake-up for its pool (``handlers.wakeups``) or the wait ends,
re-reading the waterfall on each wake-up.  On Lambda there is no wake-up to
hear, so it answers at once (docs/decisions.md, "Long-poll for pull workers,
and on Lambda").
"""

from __future__ import annotations

import time

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.services import polling
from handlers.api.request import caller, container, ctx, name
from handlers.api.schemas.runs import (
    FlowRun,
    PreviewRequest,
    PreviewRun,
    ScheduledRunsRequest,
    WorkerFlowRun,
)

router = APIGatewayHttpRouter()
TAGS = ["Work Pools"]


@router.post(
    "/work_pools/<pool>/get_scheduled_flow_runs",
    summary="Runs the waterfall releases now (read-only; records the poll)",
    tags=TAGS,
)
def get_scheduled_flow_runs(
    pool: str, body: ScheduledRunsRequest | None = None
) -> list[WorkerFlowRun]:
    pool = name(pool)
    caller().require_pool(pool)
    request = body or ScheduledRunsRequest()
    wakeups = container().wakeups
    if wakeups is None or request.wait_seconds <= 0 or request.limit == 0:
        offered = _offered(pool, request)
    else:
        with wakeups.parking() as may_wait:
            deadline = time.monotonic() + (request.wait_seconds if may_wait else 0)
            while True:
                seen = wakeups.generation(pool)
                offered = _offered(pool, request)
                remaining = deadline - time.monotonic()
                if offered or remaining <= 0 or not wakeups.wait(pool, seen, remaining):
                    break
    return [
        WorkerFlowRun(work_pool_id=o.pool_id, work_queue_id=o.queue_id, flow_run=FlowRun.of(o.run))
        for o in offered
    ]


def _offered(pool: str, request: ScheduledRunsRequest) -> list[polling.Offered]:
    return polling.scheduled_runs(
        ctx(),
        pool,
        queue_names=request.work_queue_names,
        scheduled_before=request.scheduled_before,
        scheduled_after=request.scheduled_after,
        limit=request.limit,
    )


@router.post(
    "/work_pools/<pool>/preview",
    summary="Runs due within the next hours: released now, or why each waits",
    tags=TAGS,
)
def preview_work_pool(pool: str, body: PreviewRequest | None = None) -> list[PreviewRun]:
    pool = name(pool)
    caller().require_pool(pool)
    request = body or PreviewRequest()
    items = polling.preview(ctx(), pool, hours=request.hours, queue_names=request.work_queue_names)
    return [
        PreviewRun(flow_run=FlowRun.of(i.run), late=i.late, released=i.released, reason=i.reason)
        for i in items
    ]
