"""``/flow_runs/``: read, filter, set state (the claim), the claimed run's job,
report infrastructure.

``set_state`` answers Prefect's ``OrchestrationResult``: 201 when the state
was accepted, 200 with REJECT or ABORT and the reason otherwise.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.errors import Forbidden, InvalidInput
from core.rules.orchestration import SetStateStatus
from core.services import runs
from core.services.auth import Principal
from core.states import StateType
from handlers.api.request import caller, container, ctx, name, no_content, reply
from handlers.api.schemas.runs import (
    FlowRun,
    FlowRunFilter,
    FlowRunJob,
    FlowRunUpdate,
    OrchestrationResult,
    SetStateRequest,
)

router = APIGatewayHttpRouter()
TAGS = ["Flow Runs"]


@router.get("/flow_runs/<run_id>", summary="Read a flow run", tags=TAGS)
def read_flow_run(run_id: str) -> FlowRun:
    run = runs.get_run(ctx(), name(run_id))
    caller().require_run(run)
    return FlowRun.of(run)


def run_filter(where: FlowRunFilter, principal: Principal) -> runs.RunFilter:
    """The filter body as the service's filter, narrowed to what ``principal``
    may read (a worker: its own pool).  ``--with-worker``'s in-process API
    (``handlers.local.worker_api``) filters through here too."""
    fields = where.flow_runs
    state = fields.state if fields else None
    pools = where.work_pools.name.any_ if where.work_pools and where.work_pools.name else None
    if principal.scope == "worker":
        mine = [principal.pool_name or ""]
        pools = [p for p in pools if p in mine] if pools is not None else mine
    elif not principal.is_admin:
        principal.require_admin()
    queues = (
        where.work_pool_queues.name.any_
        if where.work_pool_queues and where.work_pool_queues.name
        else None
    )
    if fields and fields.work_queue_name and fields.work_queue_name.any_ is not None:
        queues = fields.work_queue_name.any_
    deployment_ids = (
        where.deployments.id.any_ if where.deployments and where.deployments.id else None
    )
    if fields and fields.deployment_id and fields.deployment_id.any_ is not None:
        deployment_ids = fields.deployment_id.any_
    types = state.type.any_ if state and state.type else None
    return runs.RunFilter(
        ids=fields.id.any_ if fields and fields.id else None,
        names=fields.name.any_ if fields and fields.name else None,
        state_types=_state_types(types) if types is not None else None,
        state_names=state.name.any_ if state and state.name else None,
        deployment_ids=deployment_ids,
        pool_names=pools,
        queue_names=queues,
        offset=where.offset,
        limit=where.limit,
    )


def _state_types(names: list[str]) -> list[StateType]:
    known = {t.value: t for t in StateType}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"unknown state type {unknown[0]!r}; use one of {', '.join(known)}",
            path="flow_runs.state.type.any_",
        )
    return [known[n] for n in names]


@router.post("/flow_runs/filter", summary="Read flow runs", tags=TAGS)
def read_flow_runs(body: FlowRunFilter | None = None) -> list[FlowRun]:
    where = run_filter(body or FlowRunFilter(), caller())
    return [FlowRun.of(r) for r in runs.list_runs(ctx(), where)]


@router.post("/flow_runs/count", summary="Count flow runs", tags=TAGS)
def count_flow_runs(body: FlowRunFilter | None = None) -> int:
    """Every matching run; the body's offset and limit do not apply."""
    return runs.count_runs(ctx(), run_filter(body or FlowRunFilter(), caller()))


@router.post("/flow_runs/<run_id>/set_state", summary="Propose a state", tags=TAGS)
def set_flow_run_state(run_id: str, body: SetStateRequest) -> Response[OrchestrationResult]:
    context = ctx()
    run = runs.get_run(context, name(run_id))
    principal = caller()
    principal.require_run(run)
    if body.force and principal.scope == "run":
        raise Forbidden("a run token may not force a state; report the state without force")
    result = runs.set_state(context, run.id, body.proposal(), force=body.force, read=run)
    status = 201 if result.status is SetStateStatus.ACCEPT else 200
    return reply(status, OrchestrationResult.of(result))


@router.get(
    "/flow_runs/<run_id>/job",
    summary="The rendered job of a claimed run (for its pool's worker)",
    tags=TAGS,
)
def read_flow_run_job(run_id: str) -> FlowRunJob:
    app = container()
    run = runs.get_run(app.context, name(run_id))
    principal = caller()
    if principal.scope == "run":
        raise Forbidden("a run token may not read its job; the pool's worker token can")
    principal.require_run(run)
    job = runs.claimed_job(
        app.context, run.id, api_url=app.settings.api_url, run_token=app.run_token
    )
    return FlowRunJob.of(job)


@router.patch("/flow_runs/<run_id>", summary="Report a run's infrastructure", tags=TAGS)
def update_flow_run(run_id: str, body: FlowRunUpdate) -> Response[None]:
    context = ctx()
    run = runs.get_run(context, name(run_id))
    caller().require_run(run)
    if body.infrastructure_pid is not None:
        runs.report_infrastructure(context, run.id, body.infrastructure_pid, attempt=body.attempt)
    return no_content()
