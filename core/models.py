"""The domain objects of design §2, as immutable pydantic models.

Services change an object by ``model_copy(update=...)`` and hand the new
value to the store, which writes it conditionally on ``version``.  Derived
facts (statuses, lateness) are never stored: see ``core.rules.status``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.states import State, StateType

JSON = dict[str, Any]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkPool(Model):
    id: str
    name: str
    type: str
    description: str = ""
    is_paused: bool = False
    concurrency_limit: int | None = Field(default=None, ge=0)
    base_job_template: JSON = Field(default_factory=dict)
    default_queue_id: str
    created: datetime
    updated: datetime
    # When a dispatcher last planned this pool (push/managed readiness).
    last_dispatched: datetime | None = None
    # Why the last dispatch pass that tried to submit could submit nothing
    # (push/managed readiness); None once a submission succeeds again.
    dispatch_problem: str | None = None
    # core.rules.late_runs policy text ("run", "skip_after 10m", "latest_only"); None: run.
    late_runs: str | None = None
    version: int = 1


class WorkQueue(Model):
    id: str
    pool_id: str
    name: str
    description: str = ""
    priority: int = Field(ge=1)
    concurrency_limit: int | None = Field(default=None, ge=0)
    is_paused: bool = False
    last_polled: datetime | None = None
    created: datetime
    updated: datetime
    version: int = 1


class Worker(Model):
    pool_id: str
    name: str
    last_heartbeat_time: datetime
    heartbeat_interval_seconds: int | None = None
    created: datetime


class Flow(Model):
    id: str
    name: str
    created: datetime


class ScheduleKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    RRULE = "rrule"


class Schedule(Model):
    """One of a deployment's schedules. Exactly one of cron/interval/rrule is set."""

    cron: str | None = None
    interval: float | None = Field(default=None, gt=0, description="Seconds between runs.")
    anchor_date: datetime | None = None
    rrule: str | None = None
    timezone: str = "UTC"
    active: bool = True

    @property
    def kind(self) -> ScheduleKind:
        if self.cron is not None:
            return ScheduleKind.CRON
        if self.interval is not None:
            return ScheduleKind.INTERVAL
        return ScheduleKind.RRULE


class Deployment(Model):
    id: str
    name: str
    flow_id: str
    flow_name: str
    work_pool_name: str
    work_queue_name: str
    job_variables: JSON = Field(default_factory=dict)
    parameters: JSON = Field(default_factory=dict)
    entrypoint: str | None = None
    command: str | None = None
    schedules: tuple[Schedule, ...] = ()
    paused: bool = False
    description: str = ""
    late_runs: str | None = None  # overrides the pool's (core.rules.late_runs); None: the pool's
    created: datetime
    updated: datetime
    version: int = 1


class FlowRun(Model):
    id: str
    name: str
    flow_id: str
    deployment_id: str | None = None
    work_pool_id: str
    work_pool_name: str
    work_queue_id: str
    work_queue_name: str
    job_variables: JSON = Field(default_factory=dict)
    parameters: JSON = Field(default_factory=dict)
    state: State
    state_history: tuple[State, ...] = ()
    next_scheduled_start_time: datetime
    infrastructure_pid: str | None = None
    attempt: int = 1
    # When a claim's submit lease ends; set on PENDING, cleared once submitted.
    lease_expires: datetime | None = None
    submitted_at: datetime | None = None
    # The pull worker that claimed the current attempt (its heartbeat is the
    # claim's liveness); None for a dispatcher's claim (its lease is).
    worker_name: str | None = None
    created: datetime
    updated: datetime
    version: int = 1

    @property
    def state_type(self) -> StateType:
        return self.state.type


TokenScope = Literal["admin", "worker", "run"]


class Token(Model):
    """An API token as stored: only the SHA-256 of the secret is kept."""

    id: str
    secret_hash: str
    scope: TokenScope
    pool_name: str | None = None
    run_id: str | None = None
    created: datetime
    expires: datetime | None = None
