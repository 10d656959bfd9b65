"""Flow runs, states and orchestration results (Prefect's ``FlowRun``,
``State``, ``OrchestrationResult`` and ``FlowRunFilter`` shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from core.models import JSON
from core.models import FlowRun as FlowRunModel
from core.ports import Job
from core.services.runs import Orchestration, StateProposal
from core.states import State as StateModel
from core.states import StateType
from handlers.api.schemas.common import (
    IGNORED,
    AnyOf,
    Body,
    Instant,
    Operator,
    Out,
    Page,
    Unfiltered,
    derived_id,
)
from handlers.wakeups import MAX_WAIT_SECONDS


class StateDetailsIn(BaseModel):
    """Prefect clients send every StateDetails field; only scheduled_time matters here."""

    model_config = ConfigDict(extra="allow")

    scheduled_time: Instant | None = None


class StateCreate(Body):
    type: StateType
    name: str | None = None
    message: str | None = None
    data: Any = Field(default=None, description=IGNORED)
    state_details: StateDetailsIn | None = None
    timestamp: Any = Field(default=None, description=IGNORED)
    id: Any = Field(default=None, description=IGNORED)

    def proposal(self) -> StateProposal:
        details = self.state_details or StateDetailsIn()
        return StateProposal(
            type=self.type,
            name=self.name,
            message=self.message or "",
            scheduled_time=details.scheduled_time,
        )


class StateDetails(Out):
    flow_run_id: str
    scheduled_time: datetime | None = None


class State(Out):
    id: str
    type: str
    name: str
    timestamp: datetime
    message: str | None
    data: None = None
    state_details: StateDetails

    @classmethod
    def of(cls, state: StateModel, run_id: str) -> State:
        return cls(
            id=derived_id("state", run_id, state.type, state.timestamp.isoformat()),
            type=state.type.value,
            name=state.name,
            timestamp=state.timestamp,
            message=state.message or None,
            state_details=StateDetails(flow_run_id=run_id, scheduled_time=state.scheduled_time),
        )


class FlowRun(Out):
    id: str
    created: datetime
    updated: datetime
    name: str
    flow_id: str
    deployment_id: str | None
    work_pool_id: str
    work_pool_name: str
    work_queue_id: str
    work_queue_name: str
    parameters: JSON
    job_variables: JSON
    state_id: str
    state_type: str
    state_name: str
    state: State
    expected_start_time: datetime
    next_scheduled_start_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    infrastructure_pid: str | None
    run_count: int
    attempt: int
    worker_name: str | None = Field(
        default=None, description="The pull worker whose heartbeat keeps this claim alive."
    )
    tags: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, run: FlowRunModel) -> FlowRun:
        state = State.of(run.state, run.id)
        history = (*run.state_history, run.state)
        started = next((s.timestamp for s in history if s.type is StateType.RUNNING), None)
        ended = run.state.timestamp if run.state.is_terminal else None
        scheduled = run.state.type is StateType.SCHEDULED
        return cls(
            id=run.id,
            created=run.created,
            updated=run.updated,
            name=run.name,
            flow_id=run.flow_id,
            deployment_id=run.deployment_id,
            work_pool_id=run.work_pool_id,
            work_pool_name=run.work_pool_name,
            work_queue_id=run.work_queue_id,
            work_queue_name=run.work_queue_name,
            parameters=run.parameters,
            job_variables=run.job_variables,
            state_id=state.id,
            state_type=state.type,
            state_name=state.name,
            state=state,
            expected_start_time=run.next_scheduled_start_time,
            next_scheduled_start_time=run.next_scheduled_start_time if scheduled else None,
            start_time=started,
            end_time=ended,
            infrastructure_pid=run.infrastructure_pid,
            run_count=sum(1 for s in history if s.type is StateType.RUNNING),
            attempt=run.attempt,
            worker_name=run.worker_name,
        )


class SetStateRequest(Body):
    state: StateCreate
    force: bool = False
    attempt: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Refuse unless the run is on this attempt."
    )
    worker_name: str | None = Field(
        default=None,
        max_length=200,
        description="The worker claiming the run: its heartbeat keeps the claim alive.",
    )

    def proposal(self) -> StateProposal:
        return self.state.proposal().model_copy(
            update={"attempt": self.attempt, "worker_name": self.worker_name}
        )


class OrchestrationDetails(Out):
    type: Literal["accept_details", "reject_details", "abort_details", "wait_details"]
    reason: str | None = None


class OrchestrationResult(Out):
    state: State | None
    status: str
    details: OrchestrationDetails

    @classmethod
    def of(cls, result: Orchestration) -> OrchestrationResult:
        kind = f"{result.status.value.lower()}_details"
        return cls(
            state=State.of(result.run.state, result.run.id),
            status=result.status.value,
            details=OrchestrationDetails(type=kind, reason=result.reason or None),
        )


class FlowRunUpdate(Body):
    infrastructure_pid: str | None = None
    attempt: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Record the infrastructure only for this attempt.",
    )
    name: Any = Field(default=None, description=IGNORED)


class FlowRunJob(Out):
    """What a pull worker starts for a claimed run (pushpool's own route: Prefect
    workers render templates themselves, but only the server can sign run tokens)."""

    flow_run_id: str
    attempt: int
    name: str = Field(description="The flow run's name.")
    work_pool_name: str
    work_pool_type: str
    deployment_id: str | None
    idempotency_key: str = Field(description="Keys the infrastructure: one per (run, attempt).")
    job_configuration: JSON = Field(
        description="The pool's template rendered for the run, with PUSHPOOL_* env injected."
    )

    @classmethod
    def of(cls, job: Job) -> FlowRunJob:
        return cls(
            flow_run_id=job.run_id,
            attempt=job.attempt,
            name=job.run_name,
            work_pool_name=job.pool_name,
            work_pool_type=job.pool_type,
            deployment_id=job.deployment_id,
            idempotency_key=job.idempotency_key,
            job_configuration=job.configuration,
        )


class StateFilter(Operator):
    type: AnyOf | None = None
    name: AnyOf | None = None


class FlowRunFilterFields(Operator):
    id: AnyOf | None = None
    name: AnyOf | None = None
    state: StateFilter | None = None
    deployment_id: AnyOf | None = None
    work_queue_name: AnyOf | None = None
    tags: Unfiltered = None
    flow_version: Unfiltered = None
    start_time: Unfiltered = None
    end_time: Unfiltered = None
    expected_start_time: Unfiltered = None
    next_scheduled_start_time: Unfiltered = None
    parent_flow_run_id: Unfiltered = None
    parent_task_run_id: Unfiltered = None
    idempotency_key: Unfiltered = None
    created_by: Unfiltered = None


class NameFilter(Operator):
    """Prefect's flow, work pool and work queue filters: pushpool matches names."""

    name: AnyOf | None = None
    id: Unfiltered = None
    type: Unfiltered = None
    tags: Unfiltered = None


class IdFilter(Operator):
    """Prefect's deployment filter inside a flow run filter: pushpool matches ids."""

    id: AnyOf | None = None
    name: Unfiltered = None
    tags: Unfiltered = None
    work_queue_name: Unfiltered = None
    concurrency_limit: Unfiltered = None


class FlowRunFilter(Page):
    flow_runs: FlowRunFilterFields | None = None
    deployments: IdFilter | None = None
    work_pools: NameFilter | None = None
    work_pool_queues: NameFilter | None = None
    flows: Any = Field(default=None, description=IGNORED)
    task_runs: Any = Field(default=None, description=IGNORED)
    sort: Any = Field(default=None, description="Runs come newest scheduled time first.")


class ScheduledRunsRequest(Body):
    work_queue_names: list[str] | None = None
    scheduled_before: Instant | None = None
    scheduled_after: Instant | None = None
    limit: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    # pushpool's long-poll: with nothing to offer, hold the answer up to this
    # long for a run of the pool to become due (0, the default: Prefect's poll).
    wait_seconds: StrictFloat = Field(default=0.0, ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)


class WorkerFlowRun(Out):
    work_pool_id: str
    work_queue_id: str
    flow_run: FlowRun


class PreviewRequest(Body):
    hours: float = Field(default=1.0, gt=0, le=24 * 366)
    work_queue_names: list[str] | None = None


class PreviewRun(Out):
    flow_run: FlowRun
    late: bool
    released: bool
    reason: str | None
