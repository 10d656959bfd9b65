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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import Conflict, InfrastructureError, NotFound
from core.models import FlowRun, WorkPool
from core.ports import Clock, Provider, Store
from core.services.cancellation import StopOutcome, needs_stop, stop_cancelling
from core.services.observe import DEFAULT_POLL_BATCH, PollReport, poll_runs
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
