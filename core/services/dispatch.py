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

With ``stops_cancelled`` (the cloud's dispatch functions, which alone hold
the providers there), a pass also stops the infrastructure of the pool's
CANCELLING runs (``core.services.cancellation``); the local server's
observe loop does that instead.

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

from core.errors import Conflict, InfrastructureError, InvalidInput, NotFound, Transient
from core.models import Deployment, FlowRun, WorkPool
from core.ports import Clock, PoolMode, PoolTypes, Provider, Store
from core.services.admission import (
    DEFAULT_LEASE,
    DEFAULT_RESUME_AFTER,
    DEFAULT_WINDOW,
    admit,
    is_stalled,
)
from core.services.cancellation import StopOutcome, needs_stop, stop_cancelling
from core.services.jobs import build_job
from core.states import StateType, new_state

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
    stops_cancelled: bool = False

    def dispatch(
        self, pool_name: str, *, resume: bool = True, final_attempt: bool = False
    ) -> DispatchReport:
        """Admit and submit the pool's due runs; resume stalled claims first.

        Raises :class:`DispatchIncomplete` when a retryable error left runs
        claimed (unless ``final_attempt``, which crashes them instead).
        """
        try:
            pool = self.store.get_pool(pool_name)
        except NotFound:
            return DispatchReport(pool_name=pool_name, skipped="work pool no longer exists")
        if self.pool_types.mode(pool.type) is PoolMode.PULL:
            return DispatchReport(pool_name=pool_name, skipped=f"{pool.type} pools are pulled")
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
        frees its slots for this very pass), then resume stalled claims —
        claims whose submission did not finish (a retryable error, or a pass
        that died) and whose lease still runs — with the same key, so an
        ambiguous earlier submit is not doubled."""
        active = self.store.list_active(work.pool.id)
        stopped: list[StopOutcome] = []
        if self.stops_cancelled and any(needs_stop(r) for r in active):
            stopped = stop_cancelling(self.store, active, work.provider, clock=self.clock)
        stalled = [r for r in active if is_stalled(r, now=work.now, resume_after=self.resume_after)]
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
        token = self.run_token(run)
        try:
            job = build_job(
                pool=work.pool,
                run=run,
                deployment=self._deployment(work, run),
                api_url=self.api_url,
                run_token=token,
            )
            request = work.provider.build_request(job)
            infra_id = work.provider.submit(request, idempotency_key=job.idempotency_key)
        except InvalidInput as exc:
            detail = _redacted(exc.detail, token)
            self._crash(work, run, f"The job could not be built: {detail}", retryable=False)
            return
        except InfrastructureError as exc:
            detail = _redacted(exc.detail, token)
            work.infrastructure_errors.append(detail)
            if exc.retryable and not work.final_attempt:
                work.retry.append(Failed(run.id, run.attempt, detail, retryable=True))
                return
            prefix = "Submission failed" if not exc.retryable else "Submission kept failing"
            self._crash(work, run, f"{prefix}: {detail}", retryable=exc.retryable)
            return
        work.submitted.append(self._record(work, run, infra_id))

    def _record(self, work: _Pass, run: FlowRun, infra_id: str) -> Submitted:
        """Record the infrastructure id; stop infrastructure nobody will own."""
        try:
            stored = self.store.mark_submitted(run, infrastructure_pid=infra_id, at=work.now)
        except (Conflict, NotFound) as exc:
            note = self._stop(work, infra_id, f"not recorded ({exc.detail})")
            return Submitted(run.id, run.attempt, infra_id, note=note)
        if stored.state.type is StateType.CANCELLING:
            note = self._stop(work, infra_id, "the run was cancelled while submitting")
            return Submitted(run.id, run.attempt, infra_id, note=note)
        return Submitted(run.id, run.attempt, infra_id, due=run.next_scheduled_start_time)

    @staticmethod
    def _stop(work: _Pass, infra_id: str, why: str) -> str:
        try:
            work.provider.cancel(infra_id)
        except InfrastructureError as exc:
            return f"{why}; stopping it failed: {exc.detail}"
        return f"{why}; stopped"

    def _crash(self, work: _Pass, run: FlowRun, message: str, *, retryable: bool) -> None:
        """CRASHED with ``message``, releasing the slots, unless the attempt
        has already moved on (cancelled, reaped) in the meantime."""
        state = new_state(StateType.CRASHED, at=work.now, message=message)
        current = run
        for _ in range(2):
            try:
                self.store.record_state(current, state)
            except Conflict:
                current = self.store.get_run(run.id)
                if not _same_unsubmitted_attempt(current, run):
                    return
                continue
            work.crashed.append(Failed(run.id, run.attempt, message, retryable=retryable))
            return


def _redacted(detail: str, token: str) -> str:
    """An error message without the run's token.

    Some infrastructure APIs echo the request they refused (a Kubernetes or
    Docker validation error can quote the container's environment), and the
    message becomes the run's state message and a log line (issue 9).
    """
    return detail.replace(token, "[run token]") if token else detail


def _same_unsubmitted_attempt(current: FlowRun, claimed: FlowRun) -> bool:
    return (
        current.attempt == claimed.attempt
        and current.state.type is StateType.PENDING
        and current.infrastructure_pid is None
    )
