"""Flow-run use cases: create from a deployment, read, filter, change state.

Proposing PENDING *is* the claim: one conditional write that checks the run
is still SCHEDULED and takes a pool and a queue slot, or fails without
changing anything (Prefect counts slots only when reading, so concurrent
workers overshoot; see design §3).  Leaving a slot-holding state releases
both slots in the same write and asks for a dispatch pass, so the next run
waiting behind the limit starts at once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from core import templates
from core.errors import CapacityFull, Conflict, InvalidInput, NotFound
from core.models import JSON, FlowRun
from core.ports import Job
from core.rules.orchestration import Route, SetStateStatus, decide
from core.services.context import Context
from core.services.jobs import build_job
from core.services.observe import slot_awaited
from core.services.queues import ensure_queue, existing_queue
from core.states import SLOT_HOLDING, State, StateType, new_state

WRITE_ATTEMPTS = 5
_RUN_ID_NAMESPACE = uuid.UUID("6f1c1d1e-8a50-4c1e-9a57-70757368706f")

_ADJECTIVES = (
    "amber", "brave", "calm", "daring", "eager", "fancy", "gentle", "happy", "icy", "jolly",
    "keen", "lively", "merry", "nimble", "olive", "proud", "quick", "rapid", "shy", "tidy",
    "upbeat", "vivid", "witty", "young", "zesty",
)  # fmt: skip
_ANIMALS = (
    "alpaca", "beaver", "cobra", "dingo", "eagle", "ferret", "gecko", "heron", "ibis", "jackal",
    "koala", "lemur", "marmot", "newt", "otter", "panda", "quail", "raven", "seal", "tapir",
    "urchin", "viper", "walrus", "yak", "zebra",
)  # fmt: skip


class StateProposal(BaseModel):
    """A state a caller asks a run to enter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: StateType
    name: str | None = None
    message: str = ""
    scheduled_time: datetime | None = None
    # Fencing (issue 13): a proposal about another attempt than the run's
    # current one is refused, and a claim records the worker that owns it.
    attempt: int | None = None
    worker_name: str | None = None


@dataclass(frozen=True)
class Orchestration:
    """The answer to a proposal: the run as it now is, and why if refused."""

    status: SetStateStatus
    run: FlowRun
    reason: str = ""


def run_name(run_id: str) -> str:
    """A readable name derived from the id (stable, no randomness needed)."""
    digest = hashlib.sha256(run_id.encode()).digest()
    return f"{_ADJECTIVES[digest[0] % len(_ADJECTIVES)]}-{_ANIMALS[digest[1] % len(_ANIMALS)]}"


def _aware(moment: datetime) -> datetime:
    """Naive times are read as UTC (as Prefect does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _build_state(proposal: StateProposal, *, at: datetime) -> State:
    scheduled = proposal.scheduled_time
    if proposal.type is StateType.SCHEDULED:
        scheduled = _aware(scheduled) if scheduled is not None else at
    try:
        return new_state(
            proposal.type,
            at=at,
            name=proposal.name,
            message=proposal.message,
            scheduled_time=scheduled,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), path="state.name") from exc


def _run_id(ctx: Context, deployment_id: str, idempotency_key: str | None) -> str:
    """A new id, or the one the same key produced before (so a retry finds it)."""
    if idempotency_key:
        return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{deployment_id}:{idempotency_key}"))
    return ctx.ids()


def _check_proposal(state: StateProposal | None) -> StateProposal:
    proposal = state or StateProposal(type=StateType.SCHEDULED)
    if proposal.type is not StateType.SCHEDULED:
        raise InvalidInput(
            f"runs are created SCHEDULED (got {proposal.type}); "
            "set state.type to SCHEDULED with state_details.scheduled_time",
            path="state.type",
        )
    return proposal


def create_flow_run(
    ctx: Context,
    deployment_id: str,
    *,
    name: str | None = None,
    state: StateProposal | None = None,
    parameters: JSON | None = None,
    job_variables: JSON | None = None,
    work_queue_name: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[FlowRun, bool]:
    """A new SCHEDULED run of the deployment; returns it and whether it is new.

    The same ``idempotency_key`` for the same deployment returns the run
    created the first time instead of a second one.
    """
    proposal = _check_proposal(state)
    deployment = ctx.store.get_deployment(deployment_id)
    pool = ctx.store.get_pool(deployment.work_pool_name)
    variables = templates.validate_job_variables(
        pool.base_job_template, job_variables or {}, path="job_variables"
    )
    now = ctx.clock()
    initial = _build_state(proposal, at=now)
    queue = (
        existing_queue(ctx, pool, work_queue_name)
        if work_queue_name
        else ensure_queue(ctx, pool, deployment.work_queue_name)
    )
    due = initial.scheduled_time or now
    run_id = _run_id(ctx, deployment.id, idempotency_key)
    run = FlowRun(
        id=run_id,
        name=(name or "").strip() or run_name(run_id),
        flow_id=deployment.flow_id,
        deployment_id=deployment.id,
        work_pool_id=pool.id,
        work_pool_name=pool.name,
        work_queue_id=queue.id,
        work_queue_name=queue.name,
        job_variables=variables,
        parameters={**deployment.parameters, **(parameters or {})},
        state=initial,
        next_scheduled_start_time=due,
        created=now,
        updated=now,
    )
    if not ctx.store.create_run(run):
        return ctx.store.get_run(run_id), False
    ctx.trigger.request_dispatch(pool.name, not_before=due if due > now else None)
    return run, True


def get_run(ctx: Context, run_id: str) -> FlowRun:
    return ctx.store.get_run(run_id)


@dataclass(frozen=True)
class RunFilter:
    """Prefect's flow-run filter, reduced to the fields pushpool stores."""

    ids: Sequence[str] | None = None
    names: Sequence[str] | None = None
    state_types: Sequence[StateType] | None = None
    state_names: Sequence[str] | None = None
    deployment_ids: Sequence[str] | None = None
    pool_names: Sequence[str] | None = None
    queue_names: Sequence[str] | None = None
    offset: int = 0
    limit: int = 200


# A limit above any store's size, within SQLite's 64-bit LIMIT.
EVERY_RUN = 2**62


def list_runs(ctx: Context, where: RunFilter) -> list[FlowRun]:
    """Runs matching every given filter, newest scheduled time first."""
    if where.ids is not None:
        found = []
        for run_id in where.ids:
            try:
                found.append(ctx.store.get_run(run_id))
            except NotFound:
                continue
        found.sort(key=lambda r: r.next_scheduled_start_time, reverse=True)
    else:
        found = _list_from_store(ctx, where)
    checks: tuple[tuple[Sequence[object] | None, Callable[[FlowRun], object]], ...] = (
        (where.names, lambda r: r.name),
        (where.state_types, lambda r: r.state.type),
        (where.state_names, lambda r: r.state.name),
        (where.deployment_ids, lambda r: r.deployment_id),
        (where.pool_names, lambda r: r.work_pool_name),
        (where.queue_names, lambda r: r.work_queue_name),
    )
    for wanted, field in checks:
        if wanted is not None:
            allowed = set(wanted)
            found = [r for r in found if field(r) in allowed]
    return found[where.offset : where.offset + where.limit]


def count_runs(ctx: Context, where: RunFilter) -> int:
    """How many runs match ``where``, all of them: its offset and limit are
    ignored (a count of one page answered 200 for 62,975 runs, issue 14).
    It reads what it counts, so it costs what listing every match costs."""
    return len(list_runs(ctx, replace(where, offset=0, limit=EVERY_RUN)))


def _list_from_store(ctx: Context, where: RunFilter) -> list[FlowRun]:
    fetch = where.offset + where.limit
    pool_ids: list[str | None] = [None]
    if where.pool_names is not None:
        pool_ids = []
        for name in where.pool_names:
            try:
                pool_ids.append(ctx.store.get_pool(name).id)
            except NotFound:
                continue
    deployments: list[str | None] = (
        list(where.deployment_ids) if where.deployment_ids is not None else [None]
    )
    found: dict[str, FlowRun] = {}
    for pool_id in pool_ids:
        for deployment_id in deployments:
            for run in ctx.store.list_runs(
                pool_id=pool_id,
                deployment_id=deployment_id,
                state_types=where.state_types,
                limit=fetch,
            ):
                found[run.id] = run
    return sorted(found.values(), key=lambda r: r.next_scheduled_start_time, reverse=True)


def set_state(
    ctx: Context,
    run_id: str,
    proposal: StateProposal,
    *,
    force: bool = False,
    read: FlowRun | None = None,
) -> Orchestration:
    """Orchestrate a proposed state: decide, then write it conditionally.

    ``read`` is the run as the caller just read it (the API reads it to
    check the caller's token), so it is not read twice; the write is
    conditional on its version, so a stale copy only costs a re-read.
    A lost race re-reads the run and decides again; a full limit answers
    ABORT and changes nothing.
    """
    state = _build_state(proposal, at=ctx.clock())
    run = read if read is not None and read.id == run_id else ctx.store.get_run(run_id)
    for _ in range(WRITE_ATTEMPTS):
        if proposal.attempt is not None and proposal.attempt != run.attempt:
            return Orchestration(status=SetStateStatus.ABORT, run=run, reason=_stale(proposal, run))
        decision = decide(run, state, force=force)
        if decision.status is not SetStateStatus.ACCEPT or decision.state is None:
            return Orchestration(status=decision.status, run=run, reason=decision.reason)
        owned = run
        if decision.route is not Route.RECORD:  # a claim: its worker owns the attempt
            owned = run.model_copy(update={"worker_name": proposal.worker_name or None})
        try:
            stored = _write(ctx, owned, decision.state, decision.route)
        except CapacityFull as exc:
            return Orchestration(status=SetStateStatus.ABORT, run=run, reason=exc.detail)
        except Conflict:
            run = ctx.store.get_run(run_id)
            continue
        released = run.state.type in SLOT_HOLDING and stored.state.type not in SLOT_HOLDING
        # A CANCELLING run's infrastructure is stopped by its pool's
        # dispatcher (``core.services.cancellation``): ask for a pass now.
        cancelling = StateType.CANCELLING
        entered_cancelling = stored.state.type is cancelling and run.state.type is not cancelling
        if entered_cancelling or (released and _wakes_a_run(ctx, stored)):
            ctx.trigger.request_dispatch(stored.work_pool_name, look_after=entered_cancelling)
        return Orchestration(status=SetStateStatus.ACCEPT, run=stored)
    return Orchestration(
        status=SetStateStatus.ABORT,
        run=run,
        reason="the run kept changing while this state was proposed; read it and try again",
    )


def _wakes_a_run(ctx: Context, released: FlowRun) -> bool:
    """Whether the slot ``released`` gave back has a due run to take it.

    The run itself counts when it went back to a due SCHEDULED state (a
    retry without delay): the index ``slot_awaited`` reads may not show a
    change made a moment ago.
    """
    now = ctx.clock()
    if released.state_type is StateType.SCHEDULED and released.next_scheduled_start_time <= now:
        return True
    return slot_awaited(ctx.store, released.work_pool_id, now)


def _stale(proposal: StateProposal, run: FlowRun) -> str:
    return (
        f"this is about attempt {proposal.attempt}, but the run is on attempt {run.attempt} "
        f"({run.state.type}); the old attempt's infrastructure should stop"
    )


def _write(ctx: Context, run: FlowRun, state: State, route: Route) -> FlowRun:
    if route is Route.RECORD:
        return ctx.store.record_state(run, state)
    lease = state.timestamp + ctx.submit_lease
    if route is Route.CLAIM:
        return ctx.store.claim(run, state=state, lease_expires=lease)
    pending = new_state(StateType.PENDING, at=state.timestamp, message="Claimed to start.")
    claimed = ctx.store.claim(run, state=pending, lease_expires=lease)
    return ctx.store.record_state(claimed, state)


def cancel_run(ctx: Context, run_id: str) -> Orchestration:
    """Ask a run to stop: a run not started yet ends CANCELLED at once; a
    started one goes CANCELLING until its infrastructure is stopped."""
    proposal = StateProposal(type=StateType.CANCELLING, message="Cancelled on request.")
    return set_state(ctx, run_id, proposal)


def report_infrastructure(
    ctx: Context, run_id: str, infrastructure_pid: str, *, attempt: int | None = None
) -> FlowRun:
    """Record what a worker started for a claimed run, ending its submit lease.
    With ``attempt``, only for that attempt: a late report about an abandoned
    attempt must never attach its infrastructure to the next one."""
    pid = infrastructure_pid.strip()
    if not pid:
        raise InvalidInput("give the infrastructure id", path="infrastructure_pid")
    run = ctx.store.get_run(run_id)
    if attempt is not None and attempt != run.attempt:
        raise Conflict(
            f"infrastructure {pid} is for attempt {attempt}, but the run is on attempt "
            f"{run.attempt}; stop it"
        )
    if run.state.type not in SLOT_HOLDING:
        raise Conflict(
            f"the run is {run.state.type}; infrastructure is reported for a claimed run "
            "(PENDING or RUNNING)"
        )
    return ctx.store.mark_submitted(run, infrastructure_pid=pid, at=ctx.clock())


def claimed_job(ctx: Context, run_id: str, *, api_url: str, run_token: Callable[[str], str]) -> Job:
    """The job a pull worker starts for a run it claimed: the pool's template
    rendered for the run, with the run's own token and the API URL injected.

    Rendering happens here, not in the worker, because only the control
    plane can sign the run's token.  Issued only while the run holds its
    slots: a job for a run nobody claimed would start infrastructure that
    no limit accounts for.  ``InvalidInput`` (422) when the template cannot
    be rendered for it; the worker then crashes the run with that reason.
    """
    run = ctx.store.get_run(run_id)
    if run.state.type not in SLOT_HOLDING:
        raise Conflict(
            f"the run is {run.state.type}; a job is issued only for a claimed run "
            "(propose PENDING first)"
        )
    pool = ctx.store.get_pool_by_id(run.work_pool_id)
    deployment = None
    if run.deployment_id is not None:
        try:
            deployment = ctx.store.get_deployment(run.deployment_id)
        except NotFound as exc:
            raise InvalidInput(
                f"deployment {run.deployment_id!r} of this run no longer exists", path="deployment"
            ) from exc
    return build_job(
        pool=pool, run=run, deployment=deployment, api_url=api_url, run_token=run_token(run.id)
    )
