"""The shapes the API answers with, as ``TypedDict``s.

They are plain dicts at run time (what ``json`` decodes), so scripts can
print or store them as they are, while a type checker knows each field.
Timestamps stay ISO 8601 strings, as on the wire.
"""

from __future__ import annotations

from typing import Any, TypedDict


class WorkPool(TypedDict):
    id: str
    created: str
    updated: str
    name: str
    description: str | None
    type: str
    base_job_template: dict[str, Any]
    is_paused: bool
    concurrency_limit: int | None
    status: str
    status_reason: str | None
    default_queue_id: str
    active_slots: int
    late_runs: str | None


class WorkQueue(TypedDict):
    id: str
    created: str
    updated: str
    name: str
    description: str | None
    is_paused: bool
    concurrency_limit: int | None
    priority: int
    work_pool_id: str
    work_pool_name: str
    last_polled: str | None
    status: str
    active_slots: int


class Flow(TypedDict):
    id: str
    created: str
    updated: str
    name: str
    tags: list[str]


class DeploymentSchedule(TypedDict):
    id: str
    deployment_id: str
    schedule: dict[str, Any]
    active: bool


class Deployment(TypedDict):
    id: str
    created: str
    updated: str
    name: str
    flow_id: str
    flow_name: str
    description: str | None
    paused: bool
    schedules: list[DeploymentSchedule]
    job_variables: dict[str, Any]
    parameters: dict[str, Any]
    work_pool_name: str
    work_queue_name: str
    entrypoint: str | None
    command: str | None
    late_runs: str | None
    tags: list[str]


class StateDetails(TypedDict, total=False):
    flow_run_id: str
    scheduled_time: str | None


class State(TypedDict):
    id: str
    type: str
    name: str
    timestamp: str
    message: str | None
    data: None
    state_details: StateDetails


class FlowRun(TypedDict):
    id: str
    created: str
    updated: str
    name: str
    flow_id: str
    deployment_id: str | None
    work_pool_id: str
    work_pool_name: str
    work_queue_id: str
    work_queue_name: str
    parameters: dict[str, Any]
    job_variables: dict[str, Any]
    state_id: str
    state_type: str
    state_name: str
    state: State
    expected_start_time: str
    next_scheduled_start_time: str | None
    start_time: str | None
    end_time: str | None
    infrastructure_pid: str | None
    run_count: int
    attempt: int
    tags: list[str]


TERMINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
