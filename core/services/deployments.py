"""Flow and deployment use cases.

A deployment's ``job_variables`` are checked against its pool's variables
schema when it is written, not when a run is submitted: the platform team's
contract is enforced at the moment a user can still fix the input.  A named
queue that does not exist is created (Prefect does the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from core import templates
from core.errors import Conflict, InvalidInput, NotFound
from core.models import JSON, Deployment, Flow, FlowRun, Schedule
from core.rules import schedules as schedule_rules
from core.rules.late_runs import normalised
from core.rules.pools import DEFAULT_QUEUE_NAME, clean_name
from core.services.context import Context
from core.services.queues import ensure_queue
from core.states import StateType, new_state


class DeploymentSpec(BaseModel):
    """What a user declares for a deployment (a ``POST /deployments/`` body)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    flow_id: str
    work_pool_name: str
    work_queue_name: str | None = None
    job_variables: JSON = {}
    parameters: JSON = {}
    entrypoint: str | None = None
    command: str | None = None
    schedules: tuple[Schedule, ...] = ()
    paused: bool = False
    description: str = ""
    late_runs: str | None = None


class DeploymentChanges(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: JSON | None = None
    parameters: JSON | None = None
    entrypoint: str | None = None
    command: str | None = None
    schedules: tuple[Schedule, ...] | None = None
    paused: bool | None = None
    description: str | None = None
    late_runs: str | None = None


def ensure_flow(ctx: Context, name: str) -> tuple[Flow, bool]:
    """The flow called ``name`` and whether this call created it."""
    checked = clean_name(name, kind="flow")
    candidate = Flow(id=ctx.ids(), name=checked, created=ctx.clock())
    flow = ctx.store.ensure_flow(candidate)
    return flow, flow.id == candidate.id


def list_flows(
    ctx: Context, *, ids: Sequence[str] | None = None, names: Sequence[str] | None = None
) -> list[Flow]:
    """Flows by id; without ids, the flows of the deployments (the store keeps no
    list of flows, and a flow matters here only through its deployments)."""
    if ids is not None:
        found = []
        for flow_id in dict.fromkeys(ids):
            try:
                found.append(ctx.store.get_flow(flow_id))
            except NotFound:
                continue
    else:
        flow_ids = dict.fromkeys(d.flow_id for d in ctx.store.list_deployments())
        found = [ctx.store.get_flow(flow_id) for flow_id in flow_ids]
    if names is not None:
        found = [f for f in found if f.name in set(names)]
    return sorted(found, key=lambda f: (f.name, f.id))


def check_schedule(schedule: Schedule, *, path: str, now: datetime) -> Schedule:
    """Reject a schedule that could never produce a run, or whose firing
    times cannot be computed (out of range), naming the field."""
    try:
        schedule_rules.check_schedule(schedule)
        schedule_rules.check_evaluates(schedule, now=now)
    except InvalidInput as exc:
        field = f"{path}.{exc.path}" if exc.path and exc.path != "schedule" else path
        raise InvalidInput(str(exc).removeprefix(f"{exc.path}: "), path=field) from exc
    return schedule


def _check_schedules(schedules: Sequence[Schedule], *, now: datetime) -> tuple[Schedule, ...]:
    return tuple(
        check_schedule(s, path=f"schedules[{i}]", now=now) for i, s in enumerate(schedules)
    )


def _placement(
    ctx: Context, pool_name: str, queue_name: str | None, job_variables: JSON
) -> tuple[str, str, JSON]:
    """Pool and queue names as stored, and the validated job variables.

    The variables are checked before a missing queue is created, so a
    refused request leaves no queue behind.
    """
    pool = ctx.store.get_pool(pool_name)
    checked = templates.validate_job_variables(
        pool.base_job_template, job_variables, path="job_variables"
    )
    name = clean_name(queue_name or DEFAULT_QUEUE_NAME, kind="work queue")
    queue = ensure_queue(ctx, pool, name)
    return pool.name, queue.name, checked


def _check_entry(entrypoint: str | None, command: str | None) -> None:
    if entrypoint and command:
        raise InvalidInput("give either an entrypoint or a command, not both", path="command")


def apply_deployment(ctx: Context, spec: DeploymentSpec) -> tuple[Deployment, bool]:
    """Create the deployment, or replace the one with the same flow and name
    (Prefect's upsert); returns it and whether it was created."""
    name = clean_name(spec.name, kind="deployment")
    flow = ctx.store.get_flow(spec.flow_id)
    _check_entry(spec.entrypoint, spec.command)
    schedules = _check_schedules(spec.schedules, now=ctx.clock())
    pool_name, queue_name, variables = _placement(
        ctx, spec.work_pool_name, spec.work_queue_name, spec.job_variables
    )
    now = ctx.clock()
    try:
        existing: Deployment | None = ctx.store.find_deployment(flow.name, name)
    except NotFound:
        existing = None
    deployment = Deployment(
        id=existing.id if existing else ctx.ids(),
        name=name,
        flow_id=flow.id,
        flow_name=flow.name,
        work_pool_name=pool_name,
        work_queue_name=queue_name,
        job_variables=variables,
        parameters=dict(spec.parameters),
        entrypoint=spec.entrypoint,
        command=spec.command,
        schedules=schedules,
        paused=spec.paused,
        description=spec.description,
        late_runs=normalised(spec.late_runs),
        created=existing.created if existing else now,
        updated=now,
        version=existing.version if existing else 1,
    )
    if existing is None:
        ctx.store.create_deployment(deployment)
        return deployment, True
    return ctx.store.update_deployment(deployment), False


def update_deployment(ctx: Context, deployment_id: str, changes: DeploymentChanges) -> Deployment:
    """Apply the named fields; moving to another pool without naming a queue
    lands on that pool's default queue."""
    current = ctx.store.get_deployment(deployment_id)
    given = changes.model_fields_set
    pool_name = changes.work_pool_name if changes.work_pool_name else current.work_pool_name
    if "work_queue_name" in given:
        queue_name = changes.work_queue_name
    elif pool_name != current.work_pool_name:
        queue_name = None
    else:
        queue_name = current.work_queue_name
    entrypoint = changes.entrypoint if "entrypoint" in given else current.entrypoint
    command = changes.command if "command" in given else current.command
    _check_entry(entrypoint, command)
    variables = (
        changes.job_variables
        if "job_variables" in given and changes.job_variables is not None
        else current.job_variables
    )
    schedules = (
        _check_schedules(changes.schedules, now=ctx.clock())
        if changes.schedules is not None
        else None
    )
    pool_name, queue_name, variables = _placement(ctx, pool_name, queue_name, variables)
    update: dict[str, object] = {
        "work_pool_name": pool_name,
        "work_queue_name": queue_name,
        "job_variables": variables,
        "entrypoint": entrypoint,
        "command": command,
        "updated": ctx.clock(),
    }
    if changes.parameters is not None:
        update["parameters"] = dict(changes.parameters)
    if schedules is not None:
        update["schedules"] = schedules
    if changes.paused is not None:
        update["paused"] = changes.paused
    if "description" in given:
        update["description"] = changes.description or ""
    if "late_runs" in given:
        update["late_runs"] = normalised(changes.late_runs)
    return ctx.store.update_deployment(current.model_copy(update=update))


def get_deployment(ctx: Context, deployment_id: str) -> Deployment:
    return ctx.store.get_deployment(deployment_id)


def find_deployment(ctx: Context, flow_name: str, name: str) -> Deployment:
    return ctx.store.find_deployment(flow_name, name)


def list_deployments(
    ctx: Context,
    *,
    pool_name: str | None = None,
    names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    flow_names: Sequence[str] | None = None,
) -> list[Deployment]:
    found = ctx.store.list_deployments(pool_name=pool_name)
    if names is not None:
        found = [d for d in found if d.name in set(names)]
    if ids is not None:
        found = [d for d in found if d.id in set(ids)]
    if flow_names is not None:
        found = [d for d in found if d.flow_name in set(flow_names)]
    return sorted(found, key=lambda d: (d.flow_name, d.name))


def delete_deployment(ctx: Context, deployment_id: str) -> list[FlowRun]:
    """Delete the deployment and cancel its runs still waiting to start
    (Prefect removes them too); runs already started finish undisturbed."""
    deployment = ctx.store.get_deployment(deployment_id)
    waiting = ctx.store.list_runs(
        deployment_id=deployment.id, state_types=[StateType.SCHEDULED], limit=10_000
    )
    cancelled = []
    for run in waiting:
        state = new_state(
            StateType.CANCELLED, at=ctx.clock(), message="Its deployment was deleted."
        )
        try:
            cancelled.append(ctx.store.record_state(run, state))
        except Conflict:  # claimed meanwhile: it runs to its end
            continue
    ctx.store.delete_deployment(deployment)
    return cancelled
