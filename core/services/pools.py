"""Work-pool use cases: create, read, update, pause, limit, delete.

A pool's template is checked on create *and* update (a broken template would
otherwise surface only when a run is submitted, far from the change that
broke it).  Unpausing a pool or raising its limit asks for a dispatch pass,
so waiting runs move at once instead of at the next tick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from core import templates
from core.errors import Conflict, InvalidInput
from core.models import JSON, WorkPool
from core.ports import PoolMode
from core.rules.late_runs import normalised
from core.rules.pools import check_pool_name, new_pool, unknown_type_message
from core.rules.status import ReadyStatus, pool_readiness
from core.services.context import Context
from core.services.materialise import reschedule_deployments

UPDATE_ATTEMPTS = 5


class PoolChanges(BaseModel):
    """The fields a PATCH names; ``model_fields_set`` says which were given,
    so ``concurrency_limit=None`` (clear the limit) differs from omitting it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str | None = None
    is_paused: bool | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    base_job_template: JSON | None = None
    late_runs: str | None = None


@dataclass(frozen=True)
class PoolView:
    """A pool with the facts derived at read time."""

    pool: WorkPool
    status: ReadyStatus
    active_slots: int
    status_reason: str | None = None  # what to fix when the pool is not READY


def _template_for(ctx: Context, pool_type: str, template: JSON | None) -> JSON:
    """The template to store: the type's default for ``{}``, else the given
    one after validation."""
    if not template:
        return ctx.types.default_template(pool_type)
    templates.validate_template(template)
    return template


def _check_type(ctx: Context, pool_type: str) -> str:
    known = ctx.types.known()
    if pool_type not in known:
        raise InvalidInput(unknown_type_message(pool_type, known), path="type")
    return pool_type


def create_pool(
    ctx: Context,
    *,
    name: str,
    pool_type: str,
    description: str = "",
    base_job_template: JSON | None = None,
    is_paused: bool = False,
    concurrency_limit: int | None = None,
    late_runs: str | None = None,
) -> WorkPool:
    """Create a pool with its ``default`` queue; ``Conflict`` if the name is taken."""
    checked_name = check_pool_name(name)
    _check_type(ctx, pool_type)
    policy = normalised(late_runs)
    template = _template_for(ctx, pool_type, base_job_template)
    pool, queue = new_pool(
        name=checked_name,
        pool_type=pool_type,
        base_job_template=template,
        pool_id=ctx.ids(),
        queue_id=ctx.ids(),
        now=ctx.clock(),
        description=description or "",
        concurrency_limit=concurrency_limit,
        is_paused=is_paused,
    )
    pool = pool.model_copy(update={"late_runs": policy})
    ctx.store.create_pool(pool, queue)
    return pool


def get_pool(ctx: Context, name: str) -> WorkPool:
    return ctx.store.get_pool(name)


def view(ctx: Context, pool: WorkPool) -> PoolView:
    """The pool with its read-time status and the slots its runs hold."""
    mode = ctx.types.mode(pool.type)
    readiness = pool_readiness(
        pool,
        mode=mode,
        workers=ctx.store.list_workers(pool.id) if mode is PoolMode.PULL else (),
        now=ctx.clock(),
        setup_problem=None if mode is PoolMode.PULL else ctx.dispatch_setup(pool.type),
    )
    active = ctx.store.counters(pool.id).pool_active
    return PoolView(
        pool=pool, status=readiness.status, active_slots=active, status_reason=readiness.reason
    )


def list_pools(
    ctx: Context,
    *,
    names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[WorkPool]:
    """Pools matching every given filter, by name."""
    pools = sorted(ctx.store.list_pools(), key=lambda p: p.name)
    if names is not None:
        pools = [p for p in pools if p.name in set(names)]
    if ids is not None:
        pools = [p for p in pools if p.id in set(ids)]
    if types is not None:
        pools = [p for p in pools if p.type in set(types)]
    end = None if limit is None else offset + limit
    return pools[offset:end]


def _apply(ctx: Context, pool: WorkPool, changes: PoolChanges) -> WorkPool:
    given = changes.model_fields_set
    update: dict[str, object] = {}
    if "description" in given:
        update["description"] = changes.description or ""
    if "is_paused" in given:
        if changes.is_paused is None:
            raise InvalidInput("must be true or false", path="is_paused")
        update["is_paused"] = changes.is_paused
    if "concurrency_limit" in given:
        update["concurrency_limit"] = changes.concurrency_limit
    if "late_runs" in given:
        update["late_runs"] = normalised(changes.late_runs)
    if "base_job_template" in given:
        update["base_job_template"] = _template_for(ctx, pool.type, changes.base_job_template)
    if not update:
        return pool
    return pool.model_copy(update={**update, "updated": ctx.clock()})


def _frees_capacity(before: WorkPool, after: WorkPool) -> bool:
    if before.is_paused and not after.is_paused:
        return True
    old, new = before.concurrency_limit, after.concurrency_limit
    return old is not None and (new is None or new > old)


def retry_on_stale(attempt: Callable[[], WorkPool]) -> WorkPool:
    """Run a read-modify-write again when another writer got in between.

    A PATCH means "set these fields", so re-applying it on the fresh object
    is correct; a version conflict is not the caller's mistake.
    """
    for _ in range(UPDATE_ATTEMPTS - 1):
        try:
            return attempt()
        except Conflict:
            continue
    return attempt()


def update_pool(ctx: Context, name: str, changes: PoolChanges) -> WorkPool:
    """Apply ``changes``; templates are validated, the type never changes."""

    def attempt() -> WorkPool:
        pool = ctx.store.get_pool(name)
        changed = _apply(ctx, pool, changes)
        if changed is pool:
            return pool
        stored = ctx.store.update_pool(changed)
        if _frees_capacity(pool, stored):
            ctx.trigger.request_dispatch(stored.name)
        return stored

    return retry_on_stale(attempt)


def pause_pool(ctx: Context, name: str) -> WorkPool:
    return update_pool(ctx, name, PoolChanges(is_paused=True))


def resume_pool(ctx: Context, name: str) -> WorkPool:
    return update_pool(ctx, name, PoolChanges(is_paused=False))


def set_concurrency_limit(ctx: Context, name: str, limit: int | None) -> WorkPool:
    return update_pool(ctx, name, PoolChanges(concurrency_limit=limit))


def delete_pool(ctx: Context, name: str) -> None:
    """Delete the pool with its queues, workers and scheduled runs; its
    deployments' schedules start again from the next tick (if a pool of that
    name exists by then)."""
    pool = ctx.store.get_pool(name)
    ctx.store.delete_pool(pool)
    reschedule_deployments(ctx, pool.name)
