"""The per-minute tick: everything that happens because time passed.

1. materialise deployment schedules into SCHEDULED runs, a bounded number
   per deployment within a bounded horizon, with ids derived from
   (deployment, time) so a repeated or concurrent tick creates nothing twice;
   only the deployments whose schedule needs extending are read
   (``core.services.materialise``); paused deployments are skipped, paused
   pools are not (their runs wait);
2. mark runs still SCHEDULED 15 s after their time as Late;
3. look after the push pools' submitted runs through the lifecycle's
   observe request (``core.services.lifecycle.observe_active``): stop
   cancelled runs' infrastructure, poll providers that emit no events (and,
   for those that do, only runs quiet for a while, in case an event was lost);
4. reap leases, start timeouts and counter drift (``core.services.reaper``);
5. say which push pools need a dispatch and when: now for due work, for
   stalled claims (a pass resumes them) and for CANCELLING runs whose
   infrastructure is still to be stopped, and one message per distinct
   second for runs due before the next tick.

It returns a :class:`TickReport`; the handler sends ``report.dispatch``
through its ``DispatchTrigger`` and logs the rest.

Two ticks differ only in who touches the infrastructure in steps 3 and 4:

* :class:`Ticker` holds the providers and polls and stops itself (the local
  server, and the tick function where no dispatch functions are deployed);
* :class:`DelegatingTicker` holds no provider (the cloud's tick function,
  which carries no cloud SDK and may not call ECS): the report lists the
  pools to poll (``polls_wanted``) and the infrastructure to stop
  (``stops_wanted``), and the handler sends those to the pools' dispatch
  functions, which hold the providers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from core.errors import Conflict, NotFound, PushpoolError
from core.models import WorkPool
from core.ports import Clock, PoolMode, PoolTypes, Provider, Store
from core.rules.timeouts import start_timeout
from core.services.admission import DEFAULT_LEASE
from core.services.lifecycle import observe_active, stop_abandoned
from core.services.materialise import (
    DEFAULT_HORIZON,
    DEFAULT_MAX_RUNS,
    DEFAULT_SCHEDULE_BATCH,
    Materialiser,
)
from core.services.observe import DEFAULT_POLL_BATCH, PollReport
from core.services.reaper import ReapReport, StartTimeout, reap
from core.states import LATE_AFTER, StateType, new_state

# SQS delays a message by at most 15 minutes.
MAX_DISPATCH_DELAY = timedelta(minutes=15)


@dataclass(frozen=True)
class TickSettings:
    horizon: timedelta = DEFAULT_HORIZON
    max_runs_per_deployment: int = DEFAULT_MAX_RUNS
    # Extend a deployment when its first firing without a run is this close
    # (None: half the horizon); at most ``schedule_batch`` deployments a tick.
    extend_within: timedelta | None = None
    schedule_batch: int = DEFAULT_SCHEDULE_BATCH
    # Delayed dispatch messages cover runs due before the next tick; the
    # next tick covers the ones after (so no run gets two messages).
    dispatch_horizon: timedelta = timedelta(seconds=60)
    max_messages_per_pool: int = 60
    late_batch: int = 500
    poll_batch: int = DEFAULT_POLL_BATCH
    # Runs of event-emitting providers are polled only after this much quiet.
    quiet_after: timedelta = timedelta(minutes=5)
    lease: timedelta = DEFAULT_LEASE
    start_timeout_for: StartTimeout = start_timeout

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.dispatch_horizon <= MAX_DISPATCH_DELAY:
            raise ValueError("dispatch_horizon must be between 0 and 15 minutes")
        if self.extend_within is not None and not (
            timedelta(0) < self.extend_within <= self.horizon
        ):
            raise ValueError("extend_within must be more than 0 and at most the horizon")
        if self.schedule_batch < 1:
            raise ValueError("schedule_batch must be at least 1")


@dataclass(frozen=True)
class DispatchRequest:
    pool_name: str
    not_before: datetime | None = None  # None: now
    look_after: bool = False  # stalled claims to resume or infrastructure to stop


@dataclass(frozen=True)
class StopRequest:
    """Infrastructure the reaper gave up on, for the pool's dispatcher to stop."""

    pool_name: str
    infra_id: str


@dataclass(frozen=True)
class TickReport:
    created: tuple[str, ...] = ()
    late: int = 0
    reap: ReapReport = field(default_factory=ReapReport)
    polls: tuple[PollReport, ...] = ()
    dispatch: tuple[DispatchRequest, ...] = ()
    errors: tuple[str, ...] = ()
    # Only from a ``DelegatingTicker``: work for the pools' dispatchers.
    polls_wanted: tuple[str, ...] = ()
    stops_wanted: tuple[StopRequest, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TickSteps(ABC):
    """The tick's steps both ticks share; see :class:`Ticker` and
    :class:`DelegatingTicker` for who touches the infrastructure."""

    store: Store
    clock: Clock
    pool_types: PoolTypes
    settings: TickSettings = field(default_factory=TickSettings)

    def tick(self) -> TickReport:
        now = self.clock()
        errors: list[str] = []
        created = self.materialise(now=now, errors=errors)
        # One read of the due index serves both Late marking and dispatch:
        # the pools due by the dispatch horizon include those due by the
        # Late cutoff, with each pool's earliest due time.
        due = self.store.due_pools(now + self.settings.dispatch_horizon)
        late = self.mark_late(now=now, due=due)
        pools = self.store.list_pools()
        stops: list[StopRequest] = []
        # Poll before reaping: a run whose exit was missed should end with
        # its real outcome, not "did not start in time".
        with_submitted = self.pools_with_submitted_runs(pools, errors=errors)
        polls, polls_wanted = self.look_after_submitted(with_submitted, errors=errors)
        reaped = reap(
            self.store,
            clock=self.clock,
            pools=pools,
            lease=self.settings.lease,
            start_timeout_for=self.settings.start_timeout_for,
            stop=self.reaper_stop(stops),
        )
        dispatch = self.dispatch_requests(
            pools,
            now=now,
            due=due,
            errors=errors,
            attention=reaped.stalled_pools | reaped.cancelling_pools,
            requeued=frozenset(r.pool_name for r in reaped.reaped if r.to is StateType.SCHEDULED),
        )
        return TickReport(
            created=tuple(created),
            late=late,
            reap=reaped,
            polls=tuple(polls),
            dispatch=tuple(dispatch),
            errors=(*errors, *reaped.errors),
            polls_wanted=tuple(polls_wanted),
            stops_wanted=tuple(stops),
        )

    # -- 1. schedules ------------------------------------------------------------------
    def materialise(self, *, now: datetime, errors: list[str]) -> list[str]:
        settings = self.settings
        return Materialiser(
            self.store,
            horizon=settings.horizon,
            max_runs=settings.max_runs_per_deployment,
            extend_within=settings.extend_within,
            batch=settings.schedule_batch,
        ).run(now=now, errors=errors)

    # -- 2. Late ------------------------------------------------------------------------
    def mark_late(self, *, now: datetime, due: dict[str, datetime]) -> int:
        """``due``: pool id -> earliest due time (``Store.due_pools``), read
        at or after ``now - LATE_AFTER``."""
        cutoff = now - LATE_AFTER
        marked = 0
        for pool_id in sorted(p for p, earliest in due.items() if earliest <= cutoff):
            for run in self.store.list_due(pool_id, cutoff):
                if marked >= self.settings.late_batch:
                    return marked
                if run.state.name != "Scheduled":
                    continue
                late = new_state(
                    StateType.SCHEDULED,
                    at=now,
                    name="Late",
                    scheduled_time=run.next_scheduled_start_time,
                    message=run.state.message,
                )
                try:
                    self.store.record_state(run, late)
                except (Conflict, NotFound):
                    continue  # claimed or deleted meanwhile
                marked += 1
        return marked

    # -- 3. and 4.: who touches the infrastructure ---------------------------------------
    @abstractmethod
    def look_after_submitted(
        self, pools: list[WorkPool], *, errors: list[str]
    ) -> tuple[list[PollReport], list[str]]:
        """For ``pools`` (those with submitted runs): the polls made and the
        pools whose dispatchers are asked to poll."""

    @abstractmethod
    def reaper_stop(self, stops: list[StopRequest]) -> Callable[[WorkPool, str], str]:
        """What the reaper calls for infrastructure it gave up on: stop it, or
        ask for it to be stopped (into ``stops``); it answers what happened."""

    def pools_with_submitted_runs(
        self, pools: list[WorkPool], *, errors: list[str]
    ) -> list[WorkPool]:
        """One read of every slot holder, not one per pool (most pools have
        none); if that read fails, every pool, each then contained on its own."""
        try:
            submitted = {r.work_pool_id for r in self.store.list_active() if r.infrastructure_pid}
        except Exception as exc:
            errors.append(f"listing submitted runs: {_describe(exc)}; looking at every pool")
            return pools
        return [pool for pool in pools if pool.id in submitted]

    # -- 5. dispatch --------------------------------------------------------------------
    def dispatch_requests(
        self,
        pools: list[WorkPool],
        *,
        now: datetime,
        due: dict[str, datetime],
        errors: list[str],
        attention: frozenset[str] = frozenset(),
        requeued: frozenset[str] = frozenset(),
    ) -> list[DispatchRequest]:
        """``due``: pool id -> earliest due time by the dispatch horizon
        (``Store.due_pools``).  ``attention``: pools whose active runs need a
        pass (stalled claims to resume, infrastructure to stop), which they get
        even when paused.  ``requeued``: pools whose claims the reaper just
        returned to SCHEDULED, due now whatever ``due`` (read before) says."""
        until = now + self.settings.dispatch_horizon
        requests: list[DispatchRequest] = []
        for pool in sorted(pools, key=lambda p: p.name):
            earliest = due.get(pool.id)
            if pool.name in requeued:
                earliest = now if earliest is None else min(earliest, now)
            resume = pool.name in attention
            if not resume and (earliest is None or pool.is_paused):
                continue  # nothing to do, or unpausing will trigger it
            try:
                if self._mode(pool) is PoolMode.PULL:
                    continue  # workers resume and claim for themselves
            except PushpoolError as exc:
                errors.append(f"work pool {pool.name}: {exc}")
                continue
            if resume or (earliest is not None and earliest <= now):
                requests.append(DispatchRequest(pool.name, look_after=resume))
            if earliest is None or pool.is_paused:
                continue
            later = self.store.list_due(pool.id, until)
            seconds = sorted({ceil_second(r.next_scheduled_start_time) for r in later})
            seconds = [s for s in seconds if s > now][: self.settings.max_messages_per_pool]
            requests.extend(DispatchRequest(pool.name, not_before=s) for s in seconds)
        return requests

    def _mode(self, pool: WorkPool) -> PoolMode:
        return self.pool_types.mode(pool.type)


@dataclass(frozen=True, kw_only=True)
class Ticker(TickSteps):
    """The tick that holds the providers: it polls and stops itself (the
    local server, and the tick function where no dispatch functions are)."""

    provider_for: Callable[[WorkPool], Provider]

    def look_after_submitted(
        self, pools: list[WorkPool], *, errors: list[str]
    ) -> tuple[list[PollReport], list[str]]:
        return self.poll(pools, errors=errors), []

    def reaper_stop(self, stops: list[StopRequest]) -> Callable[[WorkPool, str], str]:
        return self.stop

    def poll(self, pools: list[WorkPool], *, errors: list[str]) -> list[PollReport]:
        """Observe the push pools among ``pools`` (those with submitted runs)."""
        reports: list[PollReport] = []
        for pool in pools:
            try:
                if self._mode(pool) is PoolMode.PULL:
                    continue  # workers report their own runs
                observation = observe_active(
                    self.store,
                    pool,
                    self.provider_for(pool),
                    clock=self.clock,
                    quiet_after=self.settings.quiet_after,
                    limit=self.settings.poll_batch,
                )
                errors.extend(
                    f"stopping {o.run_id}: {o.error}" for o in observation.stopped if o.error
                )
                if observation.poll is not None:
                    reports.append(observation.poll)
            except Exception as exc:  # one pool's failure must not stop the others
                errors.append(f"work pool {pool.name}: {_describe(exc)}")
        return reports

    def stop(self, pool: WorkPool, infra_id: str) -> str:
        """Stop infrastructure the reaper gave up on (push pools: a pull
        pool's infrastructure belongs to its worker)."""
        try:
            if self._mode(pool) is PoolMode.PULL:
                return ""
            failure = stop_abandoned(self.provider_for(pool), infra_id)
        except PushpoolError as exc:  # throttled, or the provider cannot be built
            return f"stopping {infra_id} failed: {exc}"
        return failure or f"stopped {infra_id}"


@dataclass(frozen=True, kw_only=True)
class DelegatingTicker(TickSteps):
    """The cloud's tick function: it carries no cloud SDK and may not call
    ECS, so it holds no provider and lists polls and stops for the pools'
    dispatch functions, which hold them."""

    def look_after_submitted(
        self, pools: list[WorkPool], *, errors: list[str]
    ) -> tuple[list[PollReport], list[str]]:
        return [], self.pools_to_poll(pools, errors=errors)

    def reaper_stop(self, stops: list[StopRequest]) -> Callable[[WorkPool, str], str]:
        return partial(self.ask_stop, stops=stops)

    def pools_to_poll(self, pools: list[WorkPool], *, errors: list[str]) -> list[str]:
        """Of ``pools`` (those with submitted runs), the push pools: their
        dispatchers poll them, keeping to quiet runs for providers that emit
        events (``lifecycle.observe_active``)."""
        wanted: list[str] = []
        for pool in pools:
            try:
                if self._mode(pool) is PoolMode.PULL:
                    continue
                wanted.append(pool.name)
            except PushpoolError as exc:
                errors.append(f"work pool {pool.name}: {exc}")
        return wanted

    def ask_stop(self, pool: WorkPool, infra_id: str, *, stops: list[StopRequest]) -> str:
        """Ask the pool's dispatcher to stop it."""
        try:
            if self._mode(pool) is PoolMode.PULL:
                return ""
        except PushpoolError as exc:
            return f"stopping {infra_id} not requested: {exc}"
        stops.append(StopRequest(pool.name, infra_id))
        return f"asked the dispatcher to stop {infra_id}"


def _describe(exc: Exception) -> str:
    """A domain error speaks for itself; anything else says what it is."""
    return str(exc) if isinstance(exc, PushpoolError) else f"{type(exc).__name__}: {exc}"


def ceil_second(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole second (SQS delays are whole seconds)."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)
