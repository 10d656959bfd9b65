"""Flows and deployments (Prefect's ``Flow``, ``DeploymentCreate``,
``DeploymentResponse`` and ``DeploymentFlowRunCreate`` shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from core.models import JSON, Schedule
from core.models import Deployment as DeploymentModel
from core.models import Flow as FlowModel
from handlers.api.schemas.common import (
    IGNORED,
    AnyOf,
    Body,
    NoBlocks,
    Operator,
    Out,
    Page,
    Unfiltered,
    derived_id,
    null_only,
)
from handlers.api.schemas.runs import NameFilter, StateCreate


class FlowCreate(Body):
    name: str
    tags: list[str] = Field(default_factory=list, description=IGNORED)
    labels: Any = Field(default=None, description=IGNORED)


class Flow(Out):
    id: str
    created: datetime
    updated: datetime
    name: str
    tags: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, flow: FlowModel) -> Flow:
        return cls(id=flow.id, created=flow.created, updated=flow.created, name=flow.name)


class FlowFilterFields(Operator):
    id: AnyOf | None = None
    name: AnyOf | None = None
    tags: Unfiltered = None
    deployment: Unfiltered = None


class FlowFilter(Page):
    flows: FlowFilterFields | None = None
    flow_runs: Unfiltered = None
    task_runs: Unfiltered = None
    deployments: Unfiltered = None
    work_pools: Unfiltered = None
    work_queues: Unfiltered = None
    sort: Any = Field(default=None, description=IGNORED)


class ScheduleSpec(Body):
    """One of Prefect's schedule shapes: cron, interval (seconds) or rrule."""

    cron: str | None = None
    day_or: Any = Field(default=None, description=IGNORED)
    interval: float | None = Field(default=None, gt=0, description="Seconds between runs.")
    anchor_date: datetime | None = None
    rrule: str | None = None
    timezone: str | None = None

    def model(self, *, active: bool) -> Schedule:
        return Schedule(
            cron=self.cron,
            interval=self.interval,
            anchor_date=self.anchor_date,
            rrule=self.rrule,
            timezone=self.timezone or "UTC",
            active=active,
        )


class DeploymentScheduleCreate(Body):
    schedule: ScheduleSpec
    active: bool = True
    max_scheduled_runs: Any = Field(default=None, description=IGNORED)
    parameters: Any = Field(default=None, description=IGNORED)
    slug: Any = Field(default=None, description=IGNORED)


LATE_RUNS = (
    "What happens to this deployment's runs that became Late while waiting: run, "
    "skip_after <duration> (e.g. skip_after 10m) or latest_only; unset: the pool's policy."
)


NoDeploymentLimit = Annotated[
    Any,
    null_only(
        "pushpool has no per-deployment concurrency limit; send null and limit the work queue"
    ),
]


class DeploymentCreate(Body):
    name: str
    flow_id: str
    work_pool_name: str
    work_queue_name: str | None = None
    job_variables: JSON = Field(default_factory=dict)
    parameters: JSON = Field(default_factory=dict)
    entrypoint: str | None = None
    command: str | None = Field(default=None, description="A shell command run instead of a flow.")
    schedules: list[DeploymentScheduleCreate] = Field(default_factory=list)
    paused: bool = False
    description: str | None = None
    late_runs: str | None = Field(default=None, description=LATE_RUNS)
    tags: Any = Field(default=None, description=IGNORED)
    version: Any = Field(default=None, description=IGNORED)
    path: Any = Field(default=None, description=IGNORED)
    pull_steps: Any = Field(default=None, description=IGNORED)
    enforce_parameter_schema: Any = Field(default=None, description=IGNORED)
    parameter_openapi_schema: Any = Field(default=None, description=IGNORED)
    labels: Any = Field(default=None, description=IGNORED)
    concurrency_limit: NoDeploymentLimit = None
    concurrency_options: NoDeploymentLimit = None
    storage_document_id: NoBlocks = None
    infrastructure_document_id: NoBlocks = None


class DeploymentUpdate(Body):
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: JSON | None = None
    parameters: JSON | None = None
    entrypoint: str | None = None
    command: str | None = None
    schedules: list[DeploymentScheduleCreate] | None = None
    paused: bool | None = None
    description: str | None = None
    late_runs: str | None = Field(default=None, description=LATE_RUNS)
    tags: Any = Field(default=None, description=IGNORED)
    version: Any = Field(default=None, description=IGNORED)


class DeploymentSchedule(Out):
    id: str
    deployment_id: str
    schedule: dict[str, Any]
    active: bool


class Deployment(Out):
    id: str
    created: datetime
    updated: datetime
    name: str
    flow_id: str
    flow_name: str
    description: str | None
    paused: bool
    schedules: list[DeploymentSchedule]
    job_variables: JSON
    parameters: JSON
    work_pool_name: str
    work_queue_name: str
    entrypoint: str | None
    command: str | None
    late_runs: str | None = Field(default=None, description=LATE_RUNS)
    tags: list[str] = Field(default_factory=list)
    parameter_openapi_schema: JSON = Field(
        description="The parameters a run may set: those the deployment gives a value. "
        "pushpool keeps no flow signature; Prefect's CLI checks --param against this."
    )

    @classmethod
    def of(cls, deployment: DeploymentModel) -> Deployment:
        schedules = [
            DeploymentSchedule(
                id=derived_id("schedule", deployment.id, str(index)),
                deployment_id=deployment.id,
                schedule=s.model_dump(mode="json", exclude={"active"}, exclude_none=True),
                active=s.active,
            )
            for index, s in enumerate(deployment.schedules)
        ]
        return cls(
            id=deployment.id,
            created=deployment.created,
            updated=deployment.updated,
            name=deployment.name,
            flow_id=deployment.flow_id,
            flow_name=deployment.flow_name,
            description=deployment.description or None,
            paused=deployment.paused,
            schedules=schedules,
            job_variables=deployment.job_variables,
            parameters=deployment.parameters,
            work_pool_name=deployment.work_pool_name,
            work_queue_name=deployment.work_queue_name,
            entrypoint=deployment.entrypoint,
            command=deployment.command,
            late_runs=deployment.late_runs,
            parameter_openapi_schema={
                "type": "object",
                "properties": {key: {} for key in deployment.parameters},
            },
        )


class DeploymentFilterFields(Operator):
    id: AnyOf | None = None
    name: AnyOf | None = None
    work_queue_name: AnyOf | None = None
    tags: Unfiltered = None
    concurrency_limit: Unfiltered = None


class DeploymentFilter(Page):
    deployments: DeploymentFilterFields | None = None
    work_pools: NameFilter | None = None
    flows: NameFilter | None = None
    flow_runs: Unfiltered = None
    task_runs: Unfiltered = None
    work_pool_queues: Unfiltered = None
    sort: Any = Field(default=None, description=IGNORED)


class DeploymentFlowRunCreate(Body):
    name: str | None = None
    state: StateCreate | None = None
    parameters: JSON = Field(default_factory=dict)
    job_variables: JSON = Field(default_factory=dict)
    work_queue_name: str | None = None
    idempotency_key: str | None = None
    tags: Any = Field(default=None, description=IGNORED)
    context: Any = Field(default=None, description=IGNORED)
    empirical_policy: Any = Field(default=None, description=IGNORED)
    parent_task_run_id: Any = Field(default=None, description=IGNORED)
    labels: Any = Field(default=None, description=IGNORED)

    @field_validator("parameters", "job_variables", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        """Prefect's client sends ``"job_variables": null`` for 'none given'."""
        return {} if value is None else value
