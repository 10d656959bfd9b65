"""The run lifecycle's store-side steps, for the drivers that hold the store.

The submit step every driver shares, the pull worker included, is in
``core.submission``; here are its store adapter and the steps that need the
store or only stop infrastructure:

* :class:`StoreRecorder` — the store's side of ``core.submission.Recorder``.
* :func:`stop_abandoned` — stop infrastructure the reaper gave up on.
* :func:`observe_active` — look after a push pool's active runs: stop the
  infrastructure of CANCELLING runs (``core.services.cancellation``), then
  poll the submitted ones (``core.services.observe``) and apply what the
  provider says.
* :func:`claims_to_resume` — which claims a dispatcher pass takes over:
  the stalled ones (``is_stalled``), whose claimant died or gave up.
* :class:`Lifecycle` — these requests with their dependencies, as the
  drivers call them (built once per profile by ``handlers.profiles``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import Conflict, InfrastructureError, NotFound
from core.models import FlowRun, WorkPool
from core.ports import Clock, InfraStatus, Provider, Store
from core.services.cancellation import StopOutcome, needs_stop, stop_cancelling
from core.services.observe import (
    DEFAULT_POLL_BATCH,
    Observed,
    PollReport,
    apply_status,
    poll_runs,
    slot_awaited,
)
from core.states import StateType, new_state
from core.submission import Recording, Refused


def stop_abandoned(provider: Provider, infra_id: str) -> str:
    """Stop infrastructure no run owns any more: why it failed, or "" once
    stopped.  A retryable failure is raised, so a driver that can retry (a
    queue's redelivery) does."""
    try:
        provider.cancel(infra_id)
    except InfrastructureError as exc:
        if exc.retryable:
            raise
        return f"stopping {infra_id} failed: {exc.detail}"
    return ""


@dataclass(frozen=True)
class Observation:
    stopped: tuple[StopOutcome, ...] = ()
    poll: PollReport | None = None  # None: the provider cannot be polled

    @property
    def released_slot(self) -> bool:
        """A run ended: the pool's dispatcher has room for the next one."""
        stopped = (o.observed for o in self.stopped if o.observed is not None)
        return any(o.released_slot for o in stopped) or bool(self.poll and self.poll.released_pools)


def observe_active(
    store: Store,
    pool: WorkPool,
    provider: Provider,
    *,
    clock: Clock,
    quiet_after: timedelta | None = None,
    limit: int = DEFAULT_POLL_BATCH,
) -> Observation:
    """Stop what is being cancelled, then poll what was submitted.

    With ``quiet_after``, a provider that emits events is asked only about
    runs no event has moved for that long: the poll is then the fallback for
    a lost event, not a second source of truth.
    """
    active = store.list_active(pool.id)
    stopped: list[StopOutcome] = []
    if any(needs_stop(run) for run in active):
        stopped = stop_cancelling(store, active, provider, clock=clock)
        active = store.list_active(pool.id)  # the stops' polls may have ended some
    if not provider.supports_polling:
        return Observation(tuple(stopped))
    submitted = [run for run in active if run.infrastructure_pid]
    if quiet_after is not None and provider.emits_events:
        quiet = clock() - quiet_after
        submitted = [run for run in submitted if run.updated <= quiet]
    return Observation(
        tuple(stopped), poll_runs(store, submitted, provider, clock=clock, limit=limit)
    )


def is_stalled(run: FlowRun, *, now: datetime, resume_after: timedelta) -> bool:
    """Claimed, not submitted, old enough to resume, and its lease still runs.

    A claim younger than ``resume_after`` may still be in its claimant's
    hands; an older one, unsubmitted and within its lease, was left by a
    claimant that died or hit a retryable error.
    """
    return (
        run.state.type is StateType.PENDING
        and run.infrastructure_pid is None
        and run.lease_expires is not None
        and run.lease_expires > now
        and now - run.state.timestamp >= resume_after
    )


def claims_to_resume(
    active: Iterable[FlowRun], *, now: datetime, resume_after: timedelta
) -> list[FlowRun]:
    """Of a pool's active runs, the stalled claims a dispatcher pass resumes
    with the same idempotency key, so an ambiguous earlier submit is not doubled."""
    return [run for run in active if is_stalled(run, now=now, resume_after=resume_after)]


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle's requests about runs already admitted, with their
    dependencies: what the drivers (the dispatch and infrastructure-events
    functions, the local observe loop) call.

    ``quiet_after``: for a provider that emits events, poll only runs no
    event has moved for that long (None: poll every submitted run, where no
    events arrive).
    """

    store: Store
    clock: Clock
    provider_for: Callable[[WorkPool], Provider]
    quiet_after: timedelta | None = None

    def observe(self, pool: WorkPool) -> Observation:
        """Stop what is being cancelled in ``pool``, then poll what was submitted."""
        return observe_active(
            self.store,
            pool,
            self.provider_for(pool),
            clock=self.clock,
            quiet_after=self.quiet_after,
        )

    def stop_abandoned(self, pool: WorkPool, infra_id: str) -> str:
        """Stop infrastructure of ``pool`` the reaper gave up on (see :func:`stop_abandoned`)."""
        return stop_abandoned(self.provider_for(pool), infra_id)

    def apply_status(
        self, *, run_id: str, infra_id: str, status: InfraStatus, attempt: int | None
    ) -> Observed | None:
        """An infrastructure event about one run (``core.services.observe.apply_status``)."""
        return apply_status(
            self.store,
            run_id=run_id,
            infra_id=infra_id,
            status=status,
            clock=self.clock,
            attempt=attempt,
        )

    def slot_awaited(self, pool_id: str) -> bool:
        """A run of the pool waits now for the slot a run just freed."""
        return slot_awaited(self.store, pool_id, self.clock())


@dataclass(frozen=True)
class StoreRecorder:
    """The store's side of :class:`Recorder`: claims are the claimed ``FlowRun``s."""

    store: Store
    at: datetime

    def record_submitted(self, claim: FlowRun, infra_id: str) -> Recording:
        try:
            stored = self.store.mark_submitted(claim, infrastructure_pid=infra_id, at=self.at)
        except (Conflict, NotFound) as exc:
            raise Refused(exc.detail) from exc
        if stored.state.type is StateType.CANCELLING:
            return Recording.CANCELLING
        return Recording.RECORDED

    def record_crashed(self, claim: FlowRun, message: str) -> bool:
        """Conditioned on the claimed attempt still waiting for its submission:
        a run cancelled or reaped meanwhile is left as it is."""
        state = new_state(StateType.CRASHED, at=self.at, message=message)
        current = claim
        for _ in range(2):
            try:
                self.store.record_state(current, state)
            except Conflict:
                current = self.store.get_run(claim.id)
                if not _same_unsubmitted_attempt(current, claim):
                    return False
                continue
            return True
        return False


def _same_unsubmitted_attempt(current: FlowRun, claimed: FlowRun) -> bool:
    return (
        current.attempt == claimed.attempt
        and current.state.type is StateType.PENDING
        and current.infrastructure_pid is None
    )
