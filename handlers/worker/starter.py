"""Starting a claimed run: fetch its job, submit it, report the infrastructure.

Runs in a thread per claim, so a slow image pull does not hold up the poll
loop.  Every way out of here leaves the run accounted for:

* started: its infrastructure id is reported and the monitor takes over;
* the job cannot be built or the provider refuses it for good: CRASHED with
  the reason (a retry cannot help, and the slots must be freed);
* the provider kept failing retryably: CRASHED after ``submit_attempts``;
* the worker is stopping before the infrastructure was started, or the API
  kept failing before anything started: handed back to SCHEDULED, so
  another worker (or this one, restarted) claims it anew;
* the run moved on meanwhile (cancelled, reaped): whatever was started for
  it is stopped, since no slot accounts for it any more.

A submission is keyed by ``(run id, attempt)``, so a retried submit after an
ambiguous failure adopts the infrastructure the first one started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import InfrastructureError
from core.ports import Clock, Job, Provider
from core.submission import Crashed, Recording, Refused, Retry, Started, submit_claimed
from handlers.worker.api import WorkerApi
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.reporter import Reporter
from pushpool.client import ApiError

log = logging.getLogger("pushpool.worker")

T = TypeVar("T")
STOPPING = "the worker stopped before starting it"


@dataclass(frozen=True)
class StartPolicy:
    submit_attempts: int = 4
    retry_seconds: float = 1.0  # doubled after each retryable failure


def job_from(body: dict[str, Any]) -> Job:
    """The API's ``FlowRunJob`` answer as the provider port's ``Job``."""
    return Job(
        run_id=body["flow_run_id"],
        attempt=body["attempt"],
        run_name=body["name"],
        pool_name=body["work_pool_name"],
        pool_type=body["work_pool_type"],
        deployment_id=body.get("deployment_id"),
        configuration=body["job_configuration"],
    )


class HandBack(Exception):
    """This run cannot be started now (the worker is stopping, or the API kept
    failing before anything started): give it back for another claim."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def transient(exc: ApiError) -> bool:
    """Unreachable, throttled or a server error: worth another try."""
    return exc.status in (0, 429) or exc.status >= 500


@dataclass(frozen=True)
class ApiRecorder:
    """The worker's side of the lifecycle's ``Recorder``: what happened to a
    claimed attempt, reported through the API (fenced to the attempt there)."""

    client: WorkerApi
    reporter: Reporter
    policy: StartPolicy

    def record_submitted(self, claim: Execution, infra_id: str) -> Recording:
        """Transient API failures are retried, even while stopping: the
        infrastructure exists, and an unrecorded start is stopped."""
        delay = self.policy.retry_seconds
        attempt = 1
        while True:
            try:
                self.client.report_infrastructure(claim.run_id, infra_id, attempt=claim.attempt)
                return Recording.RECORDED
            except ApiError as exc:
                if not transient(exc) or attempt >= self.policy.submit_attempts:
                    raise Refused(exc.detail) from exc
            time.sleep(delay)
            delay *= 2
            attempt += 1

    def record_crashed(self, claim: Execution, message: str) -> bool:
        try:
            return self.reporter.crash(claim.key, message)
        except ApiError as exc:
            log.warning("run %s: could not report CRASHED: %s", claim.run_id, exc)
            return False


class Starter:
    """Turns one accepted claim into running infrastructure (or a clear end)."""

    def __init__(
        self,
        *,
        client: WorkerApi,
        reporter: Reporter,
        provider: Callable[[], Provider],
        ledger: Ledger,
        stopping: threading.Event,
        policy: StartPolicy,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.client = client
        self.reporter = reporter
        self.provider = provider
        self.ledger = ledger
        self.stopping = stopping
        self.policy = policy
        self.handed_back: list[str] = []  # a line per run given back, for the shutdown report
        self.recorder = ApiRecorder(client=client, reporter=reporter, policy=policy)

    def start(self, execution: Execution) -> None:
        """The whole start of one run; never raises (it runs in its own thread)."""
        try:
            self._start(execution)
        except HandBack as back:
            self._hand_back(execution, back.why)
        except Exception:
            log.exception("run %s: unexpected error while starting it", execution.run_id)
            if not execution.started:
                self._crash(execution, "The worker failed while starting it; see its log.")

    def _start(self, execution: Execution) -> None:
        run_id = execution.run_id
        try:
            job = job_from(self._retrying(lambda: self.client.read_job(run_id), what="its job"))
        except ApiError as exc:
            if exc.status in (404, 409):  # deleted, or no longer claimed (cancelled, reaped)
                log.info("run %s moved on before it started: %s", run_id, exc.detail)
                self.ledger.release(execution)
            else:  # 422: the template cannot be rendered for it
                self._crash(execution, f"The job could not be built: {exc.detail}")
            return
        provider = self.provider()
        try:
            request = provider.build_request(job)
        except InfrastructureError as exc:
            self._crash(execution, f"The job could not be built: {exc.detail}")
            return
        self._wait_until_due(execution)
        self._submit(execution, provider, request, job.idempotency_key)

    def _wait_until_due(self, execution: Execution) -> None:
        """A run claimed ahead (``--prefetch-seconds``) starts at its scheduled
        time, as the dispatcher's runs do (issue 13, fault 5); a stop meanwhile
        hands it back, since nothing was started."""
        if execution.scheduled_time is None:
            return
        delay = (execution.scheduled_time - self.clock()).total_seconds()
        if delay > 0 and self.stopping.wait(delay):
            raise HandBack(STOPPING)

    def _retrying(self, call: Callable[[], T], *, what: str) -> T:
        """``call`` with transient API failures retried (back-off); a stop, or
        failures past the attempts, hand the run back.  Other refusals raise."""
        delay = self.policy.retry_seconds
        for attempt in range(1, self.policy.submit_attempts + 1):
            if self.stopping.is_set():
                raise HandBack(STOPPING)
            try:
                return call()
            except ApiError as exc:
                if not transient(exc):
                    raise
                if attempt == self.policy.submit_attempts:
                    raise HandBack(f"the API kept failing while reading {what}") from exc
                log.warning("reading %s failed, retrying in %.0f s: %s", what, delay, exc.detail)
            if self.stopping.wait(delay):
                raise HandBack(STOPPING)
            delay *= 2
        raise HandBack(f"the API kept failing while reading {what}")

    def _submit(self, execution: Execution, provider: Provider, request: object, key: str) -> None:
        """The lifecycle's submit step (``core.submission``), tried up
        to ``submit_attempts`` times with back-off; the last try's failure
        crashes the run.  A stop between tries hands the run back."""
        delay = self.policy.retry_seconds
        for attempt in range(1, self.policy.submit_attempts + 1):
            if self.stopping.is_set():
                raise HandBack(STOPPING)
            outcome = submit_claimed(
                execution,
                request,
                key=key,
                provider=provider,
                recorder=self.recorder,
                final=attempt == self.policy.submit_attempts,
            )
            if not isinstance(outcome, Retry):
                self._settle(execution, outcome)
                return
            log.warning(
                "run %s: submission failed (attempt %d of %d, retrying in %.0f s): %s",
                execution.run_id, attempt, self.policy.submit_attempts, delay, outcome.detail,
            )  # fmt: skip
            if self.stopping.wait(delay):
                raise HandBack(STOPPING)
            delay *= 2

    def _settle(self, execution: Execution, outcome: Started | Crashed) -> None:
        if isinstance(outcome, Crashed):
            log.error("run %s: %s", execution.run_id, outcome.message)
            self.ledger.release(execution)
        elif not outcome.owned:  # not recorded, so stopped: an unrecorded start
            # would run beside the retry the API's lease makes
            log.warning("run %s: %s %s", execution.run_id, outcome.infra_id, outcome.note)
            self.ledger.release(execution)
        else:
            execution.infra_id = outcome.infra_id
            log.info(
                "run %s (%s) started as %s",
                execution.run_name, execution.run_id, outcome.infra_id,
            )  # fmt: skip

    def _crash(self, execution: Execution, message: str) -> None:
        log.error("run %s: %s", execution.run_id, message)
        self.recorder.record_crashed(execution, message)
        self.ledger.release(execution)

    def _hand_back(self, execution: Execution, why: str) -> None:
        """Back to SCHEDULED; if even that fails, the API's submit lease does it later."""
        try:
            if self.reporter.hand_back(execution.key, execution.scheduled_time, why=why):
                log.info("run %s handed back: %s", execution.run_id, why)
                self.handed_back.append(
                    f"{execution.run_name} ({execution.run_id}): handed back, SCHEDULED"
                )
        except ApiError as exc:
            log.warning("run %s: could not hand it back: %s", execution.run_id, exc)
        self.ledger.release(execution)
