"""Small builders for pools, queues and runs, shared by store and admission tests.

Every builder makes a valid object with sensible defaults and takes keyword
arguments for what a test cares about.  ``add_*`` helpers also store the
object and return what the store now holds.  Keep this module boring: other
test suites import it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from core.models import Deployment, FlowRun, Token, WorkPool, WorkQueue
from core.ports import Store
from core.rules.pools import new_pool
from core.states import State, StateType, new_state

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def new_id() -> str:
    return str(uuid4())


def make_pool(
    name: str | None = None,
    *,
    limit: int | None = None,
    paused: bool = False,
    pool_type: str = "process",
    now: datetime = NOW,
) -> tuple[WorkPool, WorkQueue]:
    """A pool and its default queue (priority 1), not yet stored."""
    return new_pool(
        name=name or f"pool-{new_id()[:8]}",
        pool_type=pool_type,
        base_job_template={},
        pool_id=new_id(),
        queue_id=new_id(),
        now=now,
        concurrency_limit=limit,
        is_paused=paused,
    )


def make_queue(
    pool: WorkPool,
    name: str,
    *,
    priority: int,
    limit: int | None = None,
    paused: bool = False,
    now: datetime = NOW,
) -> WorkQueue:
    return WorkQueue(
        id=new_id(),
        pool_id=pool.id,
        name=name,
        priority=priority,
        concurrency_limit=limit,
        is_paused=paused,
        created=now,
        updated=now,
    )


def make_run(
    pool: WorkPool,
    queue: WorkQueue,
    *,
    at: datetime = NOW,
    run_id: str | None = None,
    state: State | None = None,
    deployment_id: str | None = None,
    name: str | None = None,
) -> FlowRun:
    """A run of ``queue`` due at ``at``, SCHEDULED unless ``state`` says otherwise."""
    run_id = run_id or new_id()
    return FlowRun(
        id=run_id,
        name=name or f"run-{run_id[:8]}",
        flow_id="flow-1",
        deployment_id=deployment_id,
        work_pool_id=pool.id,
        work_pool_name=pool.name,
        work_queue_id=queue.id,
        work_queue_name=queue.name,
        state=state or scheduled(at),
        next_scheduled_start_time=at,
        created=NOW,
        updated=NOW,
    )


def make_deployment(
    pool: WorkPool,
    name: str = "nightly",
    *,
    flow_name: str = "etl",
    queue_name: str = "default",
    now: datetime = NOW,
) -> Deployment:
    return Deployment(
        id=new_id(),
        name=name,
        flow_id=new_id(),
        flow_name=flow_name,
        work_pool_name=pool.name,
        work_queue_name=queue_name,
        created=now,
        updated=now,
    )


def make_token(secret_hash: str, *, scope: str = "admin", now: datetime = NOW) -> Token:
    return Token.model_validate(
        {"id": new_id(), "secret_hash": secret_hash, "scope": scope, "created": now}
    )


# -- states ----------------------------------------------------------------------


def scheduled(at: datetime = NOW) -> State:
    return new_state(StateType.SCHEDULED, at=at, scheduled_time=at)


def pending(at: datetime = NOW) -> State:
    return new_state(StateType.PENDING, at=at)


def state(state_type: StateType, at: datetime = NOW, **kwargs: object) -> State:
    return new_state(state_type, at=at, **kwargs)  # type: ignore[arg-type]


# -- stored objects ----------------------------------------------------------------


def add_pool(
    store: Store,
    name: str | None = None,
    *,
    limit: int | None = None,
    default_limit: int | None = None,
    paused: bool = False,
    pool_type: str = "process",
) -> tuple[WorkPool, WorkQueue]:
    """Store a pool; ``default_limit`` caps its default queue."""
    pool, queue = make_pool(name, limit=limit, paused=paused, pool_type=pool_type)
    queue = queue.model_copy(update={"concurrency_limit": default_limit})
    store.create_pool(pool, queue)
    return store.get_pool_by_id(pool.id), store.get_queue_by_id(queue.id)


def add_queue(
    store: Store,
    pool: WorkPool,
    name: str,
    *,
    priority: int,
    limit: int | None = None,
    paused: bool = False,
) -> WorkQueue:
    queue = make_queue(pool, name, priority=priority, limit=limit, paused=paused)
    store.create_queue(queue)
    return store.get_queue_by_id(queue.id)


def add_run(
    store: Store, pool: WorkPool, queue: WorkQueue, *, at: datetime = NOW, **kwargs: object
) -> FlowRun:
    run = make_run(pool, queue, at=at, **kwargs)  # type: ignore[arg-type]
    assert store.create_run(run)
    return store.get_run(run.id)


def claim(store: Store, run: FlowRun, *, at: datetime = NOW) -> FlowRun:
    """Claim ``run`` with a PENDING state at ``at`` and a lease of ``LEASE``."""
    return store.claim(run, state=pending(at), lease_expires=at + LEASE)
