"""``/flows/`` and ``/deployments/``, including ``create_flow_run``.

As in Prefect, ``POST /flows/`` and ``POST /deployments/`` are upserts:
201 when created, 200 when the object already existed.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.services import deployments, runs
from handlers.api.request import caller, ctx, name, no_content, reply
from handlers.api.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFilter,
    DeploymentFlowRunCreate,
    DeploymentScheduleCreate,
    DeploymentUpdate,
    Flow,
    FlowCreate,
    FlowFilter,
)
from handlers.api.schemas.runs import FlowRun

router = APIGatewayHttpRouter()


def _schedules(specs: list[DeploymentScheduleCreate]) -> tuple[object, ...]:
    return tuple(s.schedule.model(active=s.active) for s in specs)


@router.post("/flows/", summary="Create a flow (or read the one with this name)", tags=["Flows"])
def create_flow(body: FlowCreate) -> Response[Flow]:
    caller().require_admin()
    flow, created = deployments.ensure_flow(ctx(), body.name)
    return reply(201 if created else 200, Flow.of(flow))


@router.get("/flows/<flow_id>", summary="Read a flow", tags=["Flows"])
def read_flow(flow_id: str) -> Flow:
    caller().require_admin()
    return Flow.of(ctx().store.get_flow(name(flow_id)))


@router.post("/flows/filter", summary="Read flows", tags=["Flows"])
def read_flows(body: FlowFilter | None = None) -> list[Flow]:
    """Flows by id, or, without ids, the flows that have deployments."""
    caller().require_admin()
    where = body or FlowFilter()
    fields = where.flows
    ids = fields.id.any_ if fields and fields.id else None
    names = fields.name.any_ if fields and fields.name else None
    flows = deployments.list_flows(ctx(), ids=ids, names=names)
    return [Flow.of(f) for f in flows[where.offset : where.offset + where.limit]]


@router.post("/deployments/", summary="Create or replace a deployment", tags=["Deployments"])
def create_deployment(body: DeploymentCreate) -> Response[Deployment]:
    caller().require_admin()
    spec = deployments.DeploymentSpec(
        name=body.name,
        flow_id=body.flow_id,
        work_pool_name=body.work_pool_name,
        work_queue_name=body.work_queue_name,
        job_variables=body.job_variables,
        parameters=body.parameters,
        entrypoint=body.entrypoint,
        command=body.command,
        schedules=_schedules(body.schedules),
        paused=body.paused,
        description=body.description or "",
        late_runs=body.late_runs,
    )
    deployment, created = deployments.apply_deployment(ctx(), spec)
    return reply(201 if created else 200, Deployment.of(deployment))


@router.post("/deployments/filter", summary="Read deployments", tags=["Deployments"])
def read_deployments(body: DeploymentFilter | None = None) -> list[Deployment]:
    caller().require_admin()
    where = body or DeploymentFilter()
    fields = where.deployments
    pools = where.work_pools.name.any_ if where.work_pools and where.work_pools.name else None
    flows = where.flows.name.any_ if where.flows and where.flows.name else None
    found = deployments.list_deployments(
        ctx(),
        names=fields.name.any_ if fields and fields.name else None,
        ids=fields.id.any_ if fields and fields.id else None,
        flow_names=flows,
    )
    if pools is not None:
        found = [d for d in found if d.work_pool_name in set(pools)]
    if fields and fields.work_queue_name and fields.work_queue_name.any_ is not None:
        found = [d for d in found if d.work_queue_name in set(fields.work_queue_name.any_)]
    return [Deployment.of(d) for d in found[where.offset : where.offset + where.limit]]


@router.get(
    "/deployments/name/<flow_name>/<deployment_name>",
    summary="Read a deployment by flow and deployment name",
    tags=["Deployments"],
)
def read_deployment_by_name(flow_name: str, deployment_name: str) -> Deployment:
    caller().require_admin()
    found = deployments.find_deployment(ctx(), name(flow_name), name(deployment_name))
    return Deployment.of(found)


@router.get("/deployments/<deployment_id>", summary="Read a deployment", tags=["Deployments"])
def read_deployment(deployment_id: str) -> Deployment:
    caller().require_admin()
    return Deployment.of(deployments.get_deployment(ctx(), name(deployment_id)))


@router.patch("/deployments/<deployment_id>", summary="Update a deployment", tags=["Deployments"])
def update_deployment(deployment_id: str, body: DeploymentUpdate) -> Response[None]:
    caller().require_admin()
    given = body.model_dump(exclude_unset=True, exclude={"tags", "version", "schedules"})
    if body.schedules is not None:
        given["schedules"] = _schedules(body.schedules)
    changes = deployments.DeploymentChanges(**given)
    deployments.update_deployment(ctx(), name(deployment_id), changes)
    return no_content()


@router.delete("/deployments/<deployment_id>", summary="Delete a deployment", tags=["Deployments"])
def delete_deployment(deployment_id: str) -> Response[None]:
    caller().require_admin()
    deployments.delete_deployment(ctx(), name(deployment_id))
    return no_content()


@router.post(
    "/deployments/<deployment_id>/create_flow_run",
    summary="Create a flow run from a deployment",
    tags=["Deployments"],
)
def create_flow_run(
    deployment_id: str, body: DeploymentFlowRunCreate | None = None
) -> Response[FlowRun]:
    caller().require_admin()
    body = body or DeploymentFlowRunCreate()
    run, created = runs.create_flow_run(
        ctx(),
        name(deployment_id),
        name=body.name,
        state=body.state.proposal() if body.state else None,
        parameters=body.parameters,
        job_variables=body.job_variables,
        work_queue_name=body.work_queue_name,
        idempotency_key=body.idempotency_key,
    )
    return reply(201 if created else 200, FlowRun.of(run))
