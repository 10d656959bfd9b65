"""What a worker's poll and ``work-pool preview`` see: the waterfall, read-only.

``scheduled_runs`` answers ``get_scheduled_flow_runs``: the runs the
waterfall would release now, for the queues a worker serves.  It claims
nothing (the worker's PENDING proposal is the claim) and writes only the
poll time that makes the queues READY.  ``preview`` adds every run due
within a horizon that waits, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import FlowRun, WorkPool, WorkQueue
from core.services.admission import DEFAULT_WINDOW, end_skipped, skippable
from core.services.admission import preview as plan_preview
from core.services.context import Context
from core.states import is_late

MAX_POLL_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Offered:
    """A run a worker may claim now, with the ids Prefect's answer carries."""

    run: FlowRun
    pool_id: str
    queue_id: str


@dataclass(frozen=True)
class PreviewItem:
    run: FlowRun
    late: bool
    released: bool
    reason: str | None


def _queues(ctx: Context, pool: WorkPool, names: Sequence[str] | None) -> list[WorkQueue]:
    if not names:
        return ctx.store.list_queues(pool.id)
    return [ctx.store.get_queue(pool.id, name) for name in dict.fromkeys(names)]


def scheduled_runs(
    ctx: Context,
    pool_name: str,
    *,
    queue_names: Sequence[str] | None = None,
    scheduled_before: datetime | None = None,
    scheduled_after: datetime | None = None,
    limit: int | None = None,
) -> list[Offered]:
    """The waterfall's releases now (up to ``scheduled_before``) for these queues."""
    pool = ctx.store.get_pool(pool_name)
    queues = _queues(ctx, pool, queue_names)
    now = ctx.clock()
    window = DEFAULT_WINDOW
    if scheduled_before is not None:
        window = min(max(scheduled_before - now, timedelta(0)), MAX_POLL_WINDOW)
    result = plan_preview(ctx.store, pool.name, clock=lambda: now, window=window, horizon=window)
    # A pull pool has no dispatcher: its polls end the runs the late-run policy skips.
    queues_now = ctx.store.list_queues(pool.id) if result.skipped else []
    ending = skippable(result.pool, queues_now, list(result.skipped.values()), result.reasons)
    end_skipped(ctx.store, ending, result.reasons, now=now)
    wanted = {q.id for q in queues}
    offered = [
        Offered(run=run, pool_id=pool.id, queue_id=run.work_queue_id)
        for run in result.plan.releases
        if run.work_queue_id in wanted
        and (scheduled_after is None or run.next_scheduled_start_time >= scheduled_after)
    ]
    ctx.store.record_poll(pool.id, [q.id for q in queues if not q.is_paused], now)
    return offered if limit is None else offered[:limit]


def preview(
    ctx: Context, pool_name: str, *, hours: float, queue_names: Sequence[str] | None = None
) -> list[PreviewItem]:
    """Every run due within ``hours``: released now, or waiting and why;
    latest first, as Prefect's preview lists them."""
    pool = ctx.store.get_pool(pool_name)
    wanted = {q.id for q in _queues(ctx, pool, queue_names)}
    result = plan_preview(ctx.store, pool.name, clock=ctx.clock, horizon=timedelta(hours=hours))
    now = result.now
    items = [PreviewItem(r, is_late(r.state, now=now), True, None) for r in result.plan.releases]
    items += [
        PreviewItem(w.run, is_late(w.run.state, now=now), False, w.reason.value)
        for w in result.plan.waiting
    ]
    items += [
        PreviewItem(run, is_late(run.state, now=now), False, result.reasons[run.id])
        for run in result.skipped.values()
    ]
    items = [i for i in items if i.run.work_queue_id in wanted]
    items.sort(key=lambda i: (i.run.next_scheduled_start_time, i.run.id), reverse=True)
    return items
