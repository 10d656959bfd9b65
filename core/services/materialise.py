"""Deployment schedules become SCHEDULED runs: the tick's first step.

Issue 16: the tick used to re-read every scheduled deployment, its pool,
queue and upcoming runs every minute, so its reads grew with everything
scheduled.  Now the store keeps, per deployment, how far its schedule is
materialised (``Store.mark_materialised``), and the tick asks only for the
deployments that fall short (``Store.deployments_to_schedule``):

- any write of a deployment (create, update, pause, resume, schedule edit)
  sets it back to "not materialised", so the next tick looks at it again;
  so do deleting a pool or queue (``reschedule_deployments``), which
  deletes the scheduled runs;
- a deployment is extended when its first firing without a run is less than
  ``extend_within`` away (half the horizon by default), and then filled up
  to the full horizon: a schedule firing every 6 minutes costs one
  deployment write per 5 runs, not per run;
- runs keep ids derived from (deployment, time) and ``create_run`` answers
  False for an id that exists, so two ticks at once, a tick killed between
  creating runs and recording its progress, or a stale index entry create
  nothing twice; the progress is recorded only if the deployment's version
  is still the one read, so a tick never hides a change it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.errors import Conflict, NotFound, PushpoolError
from core.models import Deployment, FlowRun, WorkPool, WorkQueue
from core.ports import ScheduleProgress, Store
from core.rules.schedules import run_name_time, scheduled_run_id, upcoming
from core.services.context import Context
from core.states import StateType, new_state

DEFAULT_HORIZON = timedelta(hours=1)
DEFAULT_MAX_RUNS = 50
DEFAULT_SCHEDULE_BATCH = 1000
# A schedule with no firing this far past the horizon is looked at again then
# (a yearly cron, an RRULE that has ended) rather than every tick.
NEXT_FIRING_SEARCH = timedelta(days=400)


def schedule_runs(
    store: Store,
    deployment: Deployment,
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
    max_runs: int = DEFAULT_MAX_RUNS,
) -> list[str]:
    """Create the runs ``deployment``'s active schedules fire in ``[now, now +
    horizon)``, at most ``max_runs``; return the ids of those that are new.

    Idempotent (ids come from deployment and time), so a caller may use it
    at any time; it records no progress, so the next tick still looks at the
    deployment.  ``NotFound`` if the deployment's pool or queue is gone.
    """
    if deployment.paused:
        return []
    times = upcoming(deployment.schedules, start=now, end=now + horizon, limit=max_runs)
    if not times:
        return []
    pool = store.get_pool(deployment.work_pool_name)
    queue = store.get_queue(pool.id, deployment.work_queue_name)
    return _create(store, deployment, pool, queue, times=times, now=now, check_existing=True)


@dataclass(frozen=True)
class Materialiser:
    """One tick's pass over the deployments whose schedule needs extending."""

    store: Store
    horizon: timedelta = DEFAULT_HORIZON
    max_runs: int = DEFAULT_MAX_RUNS
    extend_within: timedelta | None = None  # None: half the horizon
    batch: int = DEFAULT_SCHEDULE_BATCH
    # Pools and queues read in this pass (many deployments share them).
    _pools: dict[str, WorkPool] = field(default_factory=dict)
    _queues: dict[tuple[str, str], WorkQueue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.within <= self.horizon:
            raise ValueError("extend_within must be more than 0 and at most the horizon")

    @property
    def within(self) -> timedelta:
        return self.horizon / 2 if self.extend_within is None else self.extend_within

    def run(self, *, now: datetime, errors: list[str]) -> list[str]:
        created: list[str] = []
        for progress in self.store.deployments_to_schedule(now + self.within, limit=self.batch):
            deployment = progress.deployment
            try:
                created.extend(self.extend(progress, now=now))
            except PushpoolError as exc:
                errors.append(f"deployment {deployment.flow_name}/{deployment.name}: {exc}")
            except Exception as exc:
                # A schedule stored before input validation caught it (or a
                # rule evaluation bug) must not stop every other deployment.
                errors.append(
                    f"deployment {deployment.flow_name}/{deployment.name}: its schedule cannot "
                    f"be evaluated ({_describe(exc)}); fix or pause it"
                )
        return created

    def extend(self, progress: ScheduleProgress, *, now: datetime) -> list[str]:
        """Create the deployment's missing runs up to the horizon, then record
        how far it got (left as it was when the pool or queue is missing, so
        the next tick reports it again)."""
        deployment, done = progress.deployment, progress.materialised_until
        if deployment.paused or not any(s.active for s in deployment.schedules):
            self.store.mark_materialised(deployment, until=None)
            return []
        end = now + self.horizon
        window = upcoming(deployment.schedules, start=now, end=end, limit=self.max_runs)
        missing = [t for t in window if done is None or t >= done]
        created: list[str] = []
        if missing:
            pool, queue = self._placement(deployment)
            created = _create(
                self.store,
                deployment,
                pool,
                queue,
                times=missing,
                now=now,
                # Runs of this schedule from before ``done`` exist; after a
                # write (None) or an outage (done in the past), some may:
                # one read spares a conditional write per existing run.
                check_existing=done is None or done <= now,
            )
        # Capped: the firing after the last run; else the first past the horizon.
        after = window[-1] + timedelta(microseconds=1) if len(window) >= self.max_runs else end
        following = upcoming(
            deployment.schedules, start=after, end=after + NEXT_FIRING_SEARCH, limit=1
        )
        self.store.mark_materialised(
            deployment, until=following[0] if following else after + NEXT_FIRING_SEARCH
        )
        return created

    def _placement(self, deployment: Deployment) -> tuple[WorkPool, WorkQueue]:
        pool = self._pools.get(deployment.work_pool_name)
        if pool is None:
            pool = self.store.get_pool(deployment.work_pool_name)
            self._pools[deployment.work_pool_name] = pool
        key = (pool.id, deployment.work_queue_name)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = self.store.get_queue(*key)
        return pool, queue


def reschedule_deployments(ctx: Context, pool_name: str, *, queue_name: str | None = None) -> None:
    """Have the next tick re-materialise the deployments of a pool (or one
    of its queues) whose scheduled runs were just deleted with it; a
    deployment written or deleted meanwhile is already rescheduled or gone."""
    for deployment in ctx.store.list_deployments(pool_name=pool_name):
        if queue_name is not None and deployment.work_queue_name != queue_name:
            continue
        try:
            ctx.store.update_deployment(deployment.model_copy(update={"updated": ctx.clock()}))
        except (Conflict, NotFound):  # written (so rescheduled) or deleted meanwhile
            continue


def _create(
    store: Store,
    deployment: Deployment,
    pool: WorkPool,
    queue: WorkQueue,
    *,
    times: list[datetime],
    now: datetime,
    check_existing: bool,
) -> list[str]:
    known: set[str] = set()
    if check_existing:
        limit = 2 * DEFAULT_MAX_RUNS + len(times)
        known = {r.id for r in store.list_runs(deployment_id=deployment.id, limit=limit)}
    created: list[str] = []
    for when in times:
        run = scheduled_run(deployment, pool, queue, when=when, now=now)
        if run.id not in known and store.create_run(run):
            created.append(run.id)
    return created


def scheduled_run(
    deployment: Deployment, pool: WorkPool, queue: WorkQueue, *, when: datetime, now: datetime
) -> FlowRun:
    """The run ``deployment``'s schedule creates for ``when`` (id from both)."""
    return FlowRun(
        id=scheduled_run_id(deployment.id, when),
        name=f"{deployment.name}-{run_name_time(deployment.schedules, when):%Y%m%d-%H%M%S}",
        flow_id=deployment.flow_id,
        deployment_id=deployment.id,
        work_pool_id=pool.id,
        work_pool_name=pool.name,
        work_queue_id=queue.id,
        work_queue_name=queue.name,
        parameters=deployment.parameters,
        state=new_state(
            StateType.SCHEDULED,
            at=now,
            scheduled_time=when,
            message="Created by the deployment's schedule",
        ),
        next_scheduled_start_time=when,
        created=now,
        updated=now,
    )


def _describe(exc: Exception) -> str:
    """A domain error speaks for itself; anything else says what it is."""
    return str(exc) if isinstance(exc, PushpoolError) else f"{type(exc).__name__}: {exc}"
