"""One dispatcher pass over one push pool: admit, render, submit, record.

Every step is safe to repeat, because dispatch messages arrive twice, late
and out of order, and a pass can die between any two steps:

* a claim is the store's conditional write, so two passes never claim one
  run (``core.services.admission``);
* a submission is keyed by ``(run id, attempt)`` (``Job.idempotency_key``),
  so the provider answers a repeated submit with the infrastructure it
  already started;
* ``mark_submitted`` is conditioned on the attempt, so a late recording for
  an attempt the reaper has abandoned is refused, and the infrastructure it
  started is stopped rather than left running unaccounted.

A pass that looks after active runs (``resume``) first stops the
infrastructure of the pool's CANCELLING runs (``core.services.cancellation``)
— every dispatcher holds the pool's provider, so each can — then resumes
stalled claims.

The submit, record and crash step is the run lifecycle's
(``core.submission``), shared with the pull worker; this module
admits, builds the job from the store and decides when to try again.

A retryable provider error leaves the run claimed and ends the pass with
:class:`DispatchIncomplete`, so the message is retried with back-off; the
retry *resumes* claimed-but-unsubmitted runs with the same key.  A pass on
the final delivery (``final_attempt``) crashes them instead, and a terminal
error crashes the run at once, releasing its slots either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from core.errors import InfrastructureError, InvalidInput, NotFound, Transient
from core.models import Deployment, FlowRun, WorkPool
from core.ports import Clock, IdFactory, PoolMode, PoolTypes, Provider, Store
from core.rules.waterfall import Snapshot, plan
from core.services.admission import (
    DEFAULT_LEASE,
    DEFAULT_RESUME_AFTER,
    DEFAULT_WINDOW,
    admit,
    releasable,
)
from core.services.cancellation import StopOutcome, needs_stop, stop_cancelling
from core.services.jobs import build_job
from core.services.lifecycle import StoreRecorder, claims_to_resume
from core.services.pool_turns import DEFAULT_TURN, in_turn
from core.submission import Outcome, Retry, Started, redacted, submission_failed, submit_claimed

ProviderFactory = Callable[[WorkPool], Provider]
RunTokenFactory = Callable[[FlowRun], str]

DEFAULT_MAX_CLAIMS = 50


@dataclass(frozen=True)
class Submitted:
    run_id: str
    attempt: int
    infrastructure_pid: str
    note: str = ""
    due: datetime | None = None  # the run's scheduled time (for due-to-submit latency)


@dataclass(frozen=True)
class Failed:
    run_id: str
    attempt: int
    message: str
    retryable: bool


@dataclass(frozen=True)
class DispatchReport:
    pool_name: str
    submitted: tuple[Submitted, ...] = ()
    crashed: tuple[Failed, ...] = ()
    retry: tuple[Failed, ...] = ()  # left claimed; the next delivery resumes them
    resumed: int = 0
    stopped: tuple[StopOutcome, ...] = ()  # infrastructure of CANCELLING runs
    more: bool = False  # the claim cap was reached: another pass has work
    skipped: str = ""  # why nothing was attempted (stale message, pull pool)
    admitted: int = 0  # runs this pass claimed
    claim_conflicts: int = 0  # claims another claimant won, or a limit refused

    @property
    def wants_another_pass(self) -> bool:
        """Slots were freed or work was left: the caller should trigger again."""
        return self.more or bool(self.crashed)


class DispatchIncomplete(Transient):
    """Some submissions hit retryable errors; retry the pass with back-off."""

    def __init__(self, report: DispatchReport) -> None:
        failures = "; ".join(f"{f.run_id}: {f.message}" for f in report.retry)
        super().__init__(f"dispatch of work pool {report.pool_name!r} incomplete: {failures}")
        self.report = report


# A pool's dispatch problem is shown in lists and stored beside the pool: an
# API error can carry a whole response body, of which the start says enough.
PROBLEM_LIMIT = 1000


@dataclass
class _Pass:
    pool: WorkPool
    provider_for: ProviderFactory
    now: datetime
    final_attempt: bool
    deployments: dict[str, Deployment | None] = field(default_factory=dict)
    submitted: list[Submitted] = field(default_factory=list)
    crashed: list[Failed] = field(default_factory=list)
    retry: list[Failed] = field(default_factory=list)
    infrastructure_errors: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str | None:
        """Why this pass is unhealthy: it tried, and the infrastructure took nothing.

        A job that cannot be built is its deployment's problem, not the pool's,
        and one success shows the pool's set-up works.
        """
        if self.submitted or not self.infrastructure_errors:
            return None
        return self.infrastructure_errors[-1][:PROBLEM_LIMIT]

    @cached_property
    def provider(self) -> Provider:
        """Built on first use: a pass with nothing to submit creates no client."""
        return self.provider_for(self.pool)


@dataclass(frozen=True)
class Dispatcher:
    """The dispatch use case with its dependencies; built once per process."""

    store: Store
    clock: Clock
    pool_types: PoolTypes
    provider_for: ProviderFactory
    run_token: RunTokenFactory
    api_url: str
    window: timedelta = DEFAULT_WINDOW
    lease: timedelta = DEFAULT_LEASE
    resume_after: timedelta = DEFAULT_RESUME_AFTER
    max_claims: int | None = DEFAULT_MAX_CLAIMS
    # Given, a pass runs in the pool's turn (``core.services.pool_turns``),
    # each turn holder named by a fresh id: one dispatcher per pool at a time.
    turn_ids: IdFactory | None = None
    turn_lease: timedelta = DEFAULT_TURN

    def dispatch(
        self,
        pool_name: str,
        *,
        resume: bool = True,
        final_attempt: bool = False,
        pool: WorkPool | None = None,
    ) -> DispatchReport:
        """Admit and submit the pool's due runs; resume stalled claims first.

        ``pool`` is the pool as the caller has just read it (the dispatch
        function reads it to check the message's routing); otherwise it is
        read here.  Raises :class:`DispatchIncomplete` when a retryable error
        left runs claimed (unless ``final_attempt``, which crashes them instead).
        """
        if pool is None:
            try:
                pool = self.store.get_pool(pool_name)
            except NotFound:
                return DispatchReport(pool_name=pool_name, skipped="work pool no longer exists")
        if self.pool_types.mode(pool.type) is PoolMode.PULL:
            return DispatchReport(pool_name=pool_name, skipped=f"{pool.type} pools are pulled")
        if self.turn_ids is None:
            return self._pass(pool, resume=resume, final_attempt=final_attempt)
        # Read first: with nothing to claim there is nothing to race for, so
        # the pass runs without the turn and pays no lease writes (most
        # wake-ups find no work); else the turn's first pass plans from this
        # read (a holder that released meanwhile costs at most a re-plan).
        snap = releasable(
            self.store, pool, now=self.clock(), window=self.window, max_claims=self.max_claims
        )
        if not resume and not plan(snap).releases:
            return self._pass(pool, resume=False, final_attempt=final_attempt, first=snap)
        read = [pool]

        def one_pass(resume_: bool) -> DispatchReport:
            # A pass after the first serves a later request: read afresh.
            # Taking the turn recorded the pass (``last_dispatched``).
            # A pass that looks after active runs may free slots first: it reads afresh.
            first = snap if read and not resume_ else None
            current = read.pop() if read else self.store.get_pool(pool_name)
            current = current.model_copy(update={"last_dispatched": self.clock()})
            return self._pass(current, resume=resume_, final_attempt=final_attempt, first=first)

        try:
            turn = in_turn(
                self.store,
                pool.id,
                one_pass,
                holder=self.turn_ids(),
                clock=self.clock,
                resume=resume,
                lease=self.turn_lease,
            )
        except NotFound:
            return DispatchReport(pool_name=pool_name, skipped="work pool no longer exists")
        if turn.held_elsewhere:
            return DispatchReport(pool_name=pool_name, skipped=HELD_ELSEWHERE)
        return _merged(turn.passes, more=turn.more)

    def _pass(
        self,
        pool: WorkPool,
        *,
        resume: bool,
        final_attempt: bool,
        first: Snapshot | None = None,
    ) -> DispatchReport:
        pool_name = pool.name
        work = _Pass(
            pool=pool,
            provider_for=self.provider_for,
            now=self.clock(),
            final_attempt=final_attempt,
        )
        resumed, stopped = self._look_after_active(work) if resume else (0, [])
        admission = admit(
            self.store,
            pool_name,
            clock=self.clock,
            window=self.window,
            lease=self.lease,
            max_claims=self.max_claims,
            pool=pool,
            first=first,
        )
        for run in admission.claimed:
            self._submit(work, run)
        self._record_health(work)
        report = DispatchReport(
            pool_name=pool_name,
            submitted=tuple(work.submitted),
            crashed=tuple(work.crashed),
            retry=tuple(work.retry),
            resumed=resumed,
            stopped=tuple(stopped),
            more=self.max_claims is not None and len(admission.claimed) >= self.max_claims,
            admitted=len(admission.claimed),
            claim_conflicts=admission.lost,
        )
        if report.retry:
            raise DispatchIncomplete(report)
        return report

    def _record_health(self, work: _Pass) -> None:
        """Keep ``pool.dispatch_problem`` in step with the last pass that tried to submit."""
        if not (work.submitted or work.infrastructure_errors):
            return  # nothing tried: no news about the pool's health
        if work.problem != work.pool.dispatch_problem:
            self.store.record_dispatch_problem(work.pool.id, work.problem)

    def _look_after_active(self, work: _Pass) -> tuple[int, list[StopOutcome]]:
        """Before admitting: stop what is being cancelled (a confirmed stop
        frees its slots for this very pass), then resume the claims the
        lifecycle says are stalled (``lifecycle.claims_to_resume``)."""
        active = self.store.list_active(work.pool.id)
        stopped: list[StopOutcome] = []
        if any(needs_stop(r) for r in active):
            stopped = stop_cancelling(self.store, active, work.provider, clock=self.clock)
        stalled = claims_to_resume(active, now=work.now, resume_after=self.resume_after)
        for run in stalled:
            self._submit(work, run)
        return len(stalled), stopped

    def _deployment(self, work: _Pass, run: FlowRun) -> Deployment | None:
        if run.deployment_id is None:
            return None
        if run.deployment_id not in work.deployments:
            try:
                found: Deployment | None = self.store.get_deployment(run.deployment_id)
            except NotFound:
                found = None
            work.deployments[run.deployment_id] = found
        deployment = work.deployments[run.deployment_id]
        if deployment is None:
            raise InvalidInput(f"deployment {run.deployment_id!r} of this run no longer exists")
        return deployment

    def _submit(self, work: _Pass, run: FlowRun) -> None:
        """The lifecycle's submit step (``core.submission``) for one
        claimed run, its job built from the store."""
        token = self.run_token(run)
        recorder = StoreRecorder(self.store, at=work.now)
        try:
            job = build_job(
                pool=work.pool,
                run=run,
                deployment=self._deployment(work, run),
                api_url=self.api_url,
                run_token=token,
            )
            request = work.provider.build_request(job)
        except InvalidInput as exc:
            message = f"The job could not be built: {redacted(exc.detail, token)}"
            if recorder.record_crashed(run, message):
                work.crashed.append(Failed(run.id, run.attempt, message, retryable=False))
            return
        except InfrastructureError as exc:  # the provider cannot be set up
            outcome: Outcome = submission_failed(
                run, exc, recorder=recorder, final=work.final_attempt, secret=token
            )
        else:
            outcome = submit_claimed(
                run,
                request,
                key=job.idempotency_key,
                provider=work.provider,
                recorder=recorder,
                final=work.final_attempt,
                secret=token,
            )
        self._tally(work, run, outcome)

    @staticmethod
    def _tally(work: _Pass, run: FlowRun, outcome: Outcome) -> None:
        if isinstance(outcome, Started):
            due = run.next_scheduled_start_time if outcome.owned else None
            work.submitted.append(
                Submitted(run.id, run.attempt, outcome.infra_id, note=outcome.note, due=due)
            )
            return
        work.infrastructure_errors.append(outcome.detail)
        if isinstance(outcome, Retry):
            work.retry.append(Failed(run.id, run.attempt, outcome.detail, retryable=True))
        elif outcome.recorded:
            work.crashed.append(Failed(run.id, run.attempt, outcome.message, outcome.retryable))


HELD_ELSEWHERE = "another dispatcher is passing over this pool; it passes again for this request"


def _merged(reports: list[DispatchReport], *, more: bool) -> DispatchReport:
    """One report for the passes of one turn."""
    last = reports[-1]
    return DispatchReport(
        pool_name=last.pool_name,
        submitted=tuple(s for r in reports for s in r.submitted),
        crashed=tuple(c for r in reports for c in r.crashed),
        retry=last.retry,
        resumed=sum(r.resumed for r in reports),
        stopped=tuple(s for r in reports for s in r.stopped),
        more=more or last.more,
        admitted=sum(r.admitted for r in reports),
        claim_conflicts=sum(r.claim_conflicts for r in reports),
    )
