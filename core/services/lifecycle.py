"""The run lifecycle's steps, made once for every driver.

Three drivers look after claimed runs: the cloud's dispatch functions, the
local server's loops and the pull worker.  They differ in where a run's
facts live — the store, or the API behind a worker — and in how they retry
(a redelivered message, a loop's back-off, a thread's sleep), not in what a
step does.  So each step is written here once, over two ports:

* a :class:`~core.ports.Provider`, which starts and stops infrastructure;
* a :class:`Recorder`, which writes what happened to one claimed attempt.
  ``StoreRecorder`` is the store's; the worker's adapter reports through
  the API.  The claim type is the recorder's own (a ``FlowRun`` for the
  store, the worker's ledger entry for the API), so a record is always
  fenced to the attempt that was claimed.

The vocabulary, one request per step:

* :func:`submit_claimed` — submit a claimed attempt's built request, record
  its infrastructure (stopping it when nobody would own it), or end the run
  CRASHED when the provider refuses it for good or the driver's last try
  failed; otherwise say the driver should try again (:class:`Retry`).
* :func:`submission_failed` — the same verdict for a failure met while
  preparing the submission (a provider that cannot be built).
* :func:`stop_abandoned` — stop infrastructure the reaper gave up on.
* :func:`observe_active` — look after a push pool's active runs: stop the
  infrastructure of CANCELLING runs (``core.services.cancellation``), then
  poll the submitted ones (``core.services.observe``) and apply what the
  provider says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol, TypeVar

from core.errors import Conflict, InfrastructureError, NotFound
from core.models import FlowRun, WorkPool
from core.ports import Clock, Provider, Store
from core.services.cancellation import StopOutcome, needs_stop, stop_cancelling
from core.services.observe import DEFAULT_POLL_BATCH, PollReport, poll_runs
from core.states import StateType, new_state

ClaimT_contra = TypeVar("ClaimT_contra", contravariant=True)


class Recording(Enum):
    RECORDED = "recorded"
    CANCELLING = "cancelling"  # recorded, but the run was cancelled meanwhile


class Refused(Exception):
    """The attempt can no longer own infrastructure (reaped, deleted, moved on)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Recorder(Protocol[ClaimT_contra]):
    """Where the facts of one claimed attempt are written."""

    def record_submitted(self, claim: ClaimT_contra, infra_id: str) -> Recording:
        """Record the attempt's infrastructure; raise :class:`Refused` when it
        can no longer own any."""
        ...

    def record_crashed(self, claim: ClaimT_contra, message: str) -> bool:
        """End the attempt CRASHED with ``message``, freeing its slots; False
        when the attempt had already moved on (cancelled, reaped)."""
        ...


@dataclass(frozen=True)
class Started:
    infra_id: str
    note: str = ""  # set when the infrastructure was stopped again (nobody owns it)

    @property
    def owned(self) -> bool:
        return not self.note


@dataclass(frozen=True)
class Crashed:
    message: str
    detail: str  # the provider's error, as the message quotes it
    retryable: bool
    recorded: bool  # False: the attempt had moved on, and nothing was written


@dataclass(frozen=True)
class Retry:
    detail: str


Outcome = Started | Crashed | Retry


def submit_claimed(
    claim: ClaimT_contra,
    request: object,
    *,
    key: str,
    provider: Provider,
    recorder: Recorder[ClaimT_contra],
    final: bool,
    secret: str = "",
) -> Outcome:
    """Submit one claimed attempt and record the result.

    ``key`` is the attempt's idempotency key, so a submit repeated after an
    ambiguous failure adopts what the first one started.  ``final``: the
    driver will not try again, so a retryable failure crashes the run too.
    ``secret`` is blanked from error messages (issue 9: some APIs echo the
    request they refused).
    """
    try:
        infra_id = provider.submit(request, idempotency_key=key)
    except InfrastructureError as exc:
        return submission_failed(claim, exc, recorder=recorder, final=final, secret=secret)
    try:
        recording = recorder.record_submitted(claim, infra_id)
    except Refused as refused:
        return Started(infra_id, note=_stop(provider, infra_id, f"not recorded ({refused.detail})"))
    if recording is Recording.CANCELLING:
        return Started(
            infra_id, note=_stop(provider, infra_id, "the run was cancelled while submitting")
        )
    return Started(infra_id)


def submission_failed(
    claim: ClaimT_contra,
    exc: InfrastructureError,
    *,
    recorder: Recorder[ClaimT_contra],
    final: bool,
    secret: str = "",
) -> Crashed | Retry:
    """A retryable failure is tried again unless this was the last try; any
    other ends the run CRASHED with one line naming the error."""
    detail = redacted(exc.detail, secret)
    if exc.retryable and not final:
        return Retry(detail)
    prefix = "Submission kept failing" if exc.retryable else "Submission failed"
    message = f"{prefix}: {detail}"
    return Crashed(message, detail, exc.retryable, recorder.record_crashed(claim, message))


def redacted(detail: str, secret: str) -> str:
    return detail.replace(secret, "[run token]") if secret else detail


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


def _stop(provider: Provider, infra_id: str, why: str) -> str:
    """Stop infrastructure no slot accounts for; say what happened."""
    try:
        provider.cancel(infra_id)
    except InfrastructureError as exc:
        return f"{why}; stopping it failed: {exc.detail}"
    return f"{why}; stopped"


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
