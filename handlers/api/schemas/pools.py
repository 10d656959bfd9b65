"""Work pools, work queues and workers (Prefect's ``WorkPool``,
``WorkQueueResponse`` and ``WorkerResponse`` shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictInt

from core.models import JSON
from core.models import WorkPool as PoolRecord
from core.models import WorkQueue as QueueRecord
from core.services.pools import PoolView
from core.services.queues import QueueView
from core.services.workers import WorkerView
from handlers.api.schemas.common import (
    IGNORED,
    AnyOf,
    Body,
    Count,
    Operator,
    Out,
    Page,
    Positive,
    Unfiltered,
    derived_id,
)

LATE_RUNS = (
    "What happens to runs that became Late while waiting (a pause, an outage): run (default), "
    "skip_after <duration> (e.g. skip_after 10m) or latest_only. A deployment's setting wins."
)


class WorkPoolCreate(Body):
    name: str = Field(description="Unique; may not contain / % & > < or start with 'prefect'.")
    type: str = Field(default="process", description="The pool type, e.g. process, ecs:push.")
    description: str | None = None
    base_job_template: JSON = Field(
        default_factory=dict, description="{} uses the type's default template."
    )
    is_paused: bool = False
    concurrency_limit: Count | None = None
    late_runs: str | None = Field(default=None, description=LATE_RUNS)
    storage_configuration: Any = Field(default=None, description=IGNORED)


class WorkPoolUpdate(Body):
    description: str | None = None
    is_paused: bool | None = None
    base_job_template: JSON | None = None
    concurrency_limit: Count | None = None
    late_runs: str | None = Field(default=None, description=LATE_RUNS)
    storage_configuration: Any = Field(default=None, description=IGNORED)


class WorkPoolFilterFields(Operator):
    id: AnyOf | None = None
    name: AnyOf | None = None
    type: AnyOf | None = None


class WorkPoolFilter(Page):
    work_pools: WorkPoolFilterFields | None = None


class Named(Out):
    """The fields every pool, queue and worker response starts with, in Prefect's order."""

    id: str
    created: datetime
    updated: datetime
    name: str


def _settings(record: PoolRecord | QueueRecord) -> dict[str, Any]:
    """The response fields a pool or queue copies from its stored record unchanged."""
    return {
        "id": record.id,
        "created": record.created,
        "updated": record.updated,
        "name": record.name,
        "description": record.description or None,
        "is_paused": record.is_paused,
        "concurrency_limit": record.concurrency_limit,
    }


class WorkPool(Named):
    description: str | None
    type: str
    base_job_template: JSON
    is_paused: bool
    concurrency_limit: int | None
    status: str
    status_reason: str | None = Field(
        default=None, description="When the pool is NOT_READY: what failed and what to fix."
    )
    default_queue_id: str
    active_slots: int
    late_runs: str | None = Field(default=None, description=LATE_RUNS)

    @classmethod
    def of(cls, view: PoolView) -> WorkPool:
        pool = view.pool
        return cls(
            **_settings(pool),
            type=pool.type,
            base_job_template=pool.base_job_template,
            status=view.status.value,
            status_reason=view.status_reason,
            default_queue_id=pool.default_queue_id,
            active_slots=view.active_slots,
            late_runs=pool.late_runs,
        )


class WorkQueueCreate(Body):
    name: str
    description: str | None = None
    is_paused: bool = False
    concurrency_limit: Count | None = None
    priority: Positive | None = Field(default=None, description="1 is the highest.")
    filter: Unfiltered = Field(default=None, description="Prefect's deprecated queue filter.")


class WorkQueueUpdate(Body):
    name: str | None = None
    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: Count | None = None
    priority: Positive | None = None
    last_polled: Any = Field(default=None, description=IGNORED)


class WorkQueueFilterFields(Operator):
    name: AnyOf | None = None
    id: Unfiltered = None


class WorkQueueFilter(Page):
    work_queues: WorkQueueFilterFields | None = None


class WorkQueue(Named):
    description: str | None
    is_paused: bool
    concurrency_limit: int | None
    priority: int
    work_pool_id: str
    work_pool_name: str
    last_polled: datetime | None
    status: str
    active_slots: int

    @classmethod
    def of(cls, view: QueueView) -> WorkQueue:
        queue = view.queue
        return cls(
            **_settings(queue),
            priority=queue.priority,
            work_pool_id=view.pool.id,
            work_pool_name=view.pool.name,
            last_polled=queue.last_polled,
            status=view.status.value,
            active_slots=view.active_slots,
        )


class HealthPolicy(Out):
    maximum_late_runs: int = 0
    maximum_seconds_since_last_polled: int = 60


class WorkQueueHealth(Out):
    healthy: bool
    late_runs_count: int
    last_polled: datetime | None
    health_check_policy: HealthPolicy


class WorkerHeartbeat(Body):
    name: str
    heartbeat_interval_seconds: Positive | None = None
    worker_metadata: Any = Field(default=None, description=IGNORED)


class WorkerFilterFields(Operator):
    status: AnyOf | None = None
    last_heartbeat_time: Unfiltered = None


class WorkerFilter(Page):
    workers: WorkerFilterFields | None = None


class Worker(Named):
    work_pool_id: str
    last_heartbeat_time: datetime
    heartbeat_interval_seconds: int | None
    status: str

    @classmethod
    def of(cls, view: WorkerView) -> Worker:
        worker = view.worker
        return cls(
            id=derived_id("worker", view.pool.id, worker.name),
            created=worker.created,
            updated=worker.last_heartbeat_time,
            name=worker.name,
            work_pool_id=view.pool.id,
            last_heartbeat_time=worker.last_heartbeat_time,
            heartbeat_interval_seconds=worker.heartbeat_interval_seconds,
            status=view.status.value,
        )


class ConcurrencyStatusRequest(Body):
    page: Positive = 1
    limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 200
    flow_run_limit: Annotated[StrictInt, Field(ge=0, le=200)] = 10


class SlotHolder(Out):
    id: str
    name: str
    state_type: str
    state_name: str
    state_timestamp: datetime


class QueueConcurrency(Out):
    queue_id: str
    queue_name: str
    priority: int
    active_slots: int
    concurrency_limit: int | None
    is_paused: bool
    flow_runs: list[SlotHolder]
    flow_run_count: int


class PoolConcurrency(Out):
    active_slots: int
    concurrency_limit: int | None
    queues: list[QueueConcurrency]
    count: int
    limit: int
    pages: int
    page: int
