"""Starting a claimed run: fetch its job, submit it, report the infrastructure.

Runs in a thread per claim, so a slow image pull does not hold up the poll
loop.  Every way out of here leaves the run accounted for:

* started: its infrastructure id is reported and the monitor takes over;
* the job cannot be built or the provider refuses it for good: CRASHED with
  the reason (a retry cannot help, and the slots must be freed);
* the provider kept failing retryably: CRASHED after ``submit_attempts``;
* the worker is stopping before the infrastructure was started: handed back
  to SCHEDULED, so another worker (or this one, restarted) claims it anew;
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
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job, Provider
from handlers.client import ApiError, Client
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.reporter import Reporter

log = logging.getLogger("pushpool.worker")


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
    """The worker is stopping and this run was not started: give it back."""


class Starter:
    """Turns one accepted claim into running infrastructure (or a clear end)."""

    def __init__(
        self,
        *,
        client: Client,
        reporter: Reporter,
        provider: Callable[[], Provider],
        ledger: Ledger,
        stopping: threading.Event,
        policy: StartPolicy,
    ) -> None:
        self.client = client
        self.reporter = reporter
        self.provider = provider
        self.ledger = ledger
        self.stopping = stopping
        self.policy = policy
        self.handed_back: list[str] = []  # a line per run given back, for the shutdown report

    def start(self, execution: Execution) -> None:
        """The whole start of one run; never raises (it runs in its own thread)."""
        try:
            self._start(execution)
        except HandBack:
            self._hand_back(execution)
        except ApiError as exc:
            log.warning("run %s: the API failed while starting it: %s", execution.run_id, exc)
            # Left PENDING without infrastructure: the API's submit lease returns it
            # to SCHEDULED if nobody records infrastructure for it.
            if not execution.started:
                self.ledger.release(execution.run_id)
        except Exception:
            log.exception("run %s: unexpected error while starting it", execution.run_id)
            if not execution.started:
                self._crash(execution, "The worker failed while starting it; see its log.")

    def _start(self, execution: Execution) -> None:
        run_id = execution.run_id
        try:
            job = job_from(self.client.read_job(run_id))
        except ApiError as exc:
            if exc.status in (404, 409):  # deleted, or no longer claimed (cancelled, reaped)
                log.info("run %s moved on before it started: %s", run_id, exc.detail)
                self.ledger.release(run_id)
                return
            if exc.status == 422:
                self._crash(execution, f"The job could not be built: {exc.detail}")
                return
            raise
        provider = self.provider()
        try:
            request = provider.build_request(job)
        except InfrastructureError as exc:
            self._crash(execution, f"The job could not be built: {exc.detail}")
            return
        infra_id = self._submit(execution, provider, request, job.idempotency_key)
        if infra_id is None:
            return
        self._record(execution, provider, infra_id)

    def _submit(
        self, execution: Execution, provider: Provider, request: Any, key: str
    ) -> str | None:
        delay = self.policy.retry_seconds
        for attempt in range(1, self.policy.submit_attempts + 1):
            if self.stopping.is_set():
                raise HandBack
            try:
                return provider.submit(request, idempotency_key=key)
            except InfrastructureError as exc:
                if not exc.retryable:
                    self._crash(execution, f"Submission failed: {exc.detail}")
                    return None
                if attempt == self.policy.submit_attempts:
                    self._crash(execution, f"Submission kept failing: {exc.detail}")
                    return None
                log.warning(
                    "run %s: submission failed (attempt %d of %d, retrying in %.0f s): %s",
                    execution.run_id, attempt, self.policy.submit_attempts, delay, exc.detail,
                )  # fmt: skip
                if self.stopping.wait(delay):
                    raise HandBack from None
                delay *= 2
        return None

    def _record(self, execution: Execution, provider: Provider, infra_id: str) -> None:
        """Report the infrastructure id; if that cannot be done, stop it: an
        unrecorded start would run beside the retry the API's lease makes."""
        problem = self._report(execution.run_id, infra_id)
        if problem is not None:
            log.warning("run %s: %s; stopping %s", execution.run_id, problem, infra_id)
            _stop(provider, infra_id)
            self.ledger.release(execution.run_id)
            return
        execution.infra_id = infra_id
        log.info("run %s (%s) started as %s", execution.run_name, execution.run_id, infra_id)

    def _report(self, run_id: str, infra_id: str) -> str | None:
        """None once recorded; else why not (after retrying transient failures)."""
        delay = self.policy.retry_seconds
        for attempt in range(1, self.policy.submit_attempts + 1):
            try:
                self.client.report_infrastructure(run_id, infra_id)
            except ApiError as exc:
                if exc.status in (404, 409):
                    return f"it moved on while starting ({exc.detail})"
                if exc.status not in (0, 429) and exc.status < 500:
                    return f"the API refused its infrastructure: {exc.detail}"
                if attempt == self.policy.submit_attempts:
                    return f"its infrastructure could not be reported: {exc.detail}"
                time.sleep(delay)
                delay *= 2
                continue
            return None
        return "its infrastructure could not be reported"

    def _crash(self, execution: Execution, message: str) -> None:
        log.error("run %s: %s", execution.run_id, message)
        try:
            self.reporter.crash(execution.run_id, message)
        except ApiError as exc:
            log.warning("run %s: could not report CRASHED: %s", execution.run_id, exc)
        self.ledger.release(execution.run_id)

    def _hand_back(self, execution: Execution) -> None:
        try:
            if self.reporter.hand_back(execution.run_id, execution.scheduled_time):
                log.info("run %s handed back (the worker is stopping)", execution.run_id)
                self.handed_back.append(
                    f"{execution.run_name} ({execution.run_id}): handed back, SCHEDULED"
                )
        except ApiError as exc:
            log.warning("run %s: could not hand it back: %s", execution.run_id, exc)
        self.ledger.release(execution.run_id)


def _stop(provider: Provider, infra_id: str) -> None:
    try:
        provider.cancel(infra_id)
    except InfrastructureError as exc:
        log.warning("stopping %s failed: %s", infra_id, exc.detail)
