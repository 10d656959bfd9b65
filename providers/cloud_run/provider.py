"""``CloudRunProvider``: create and run jobs, read executions, cancel, clean up.

See the package docstring for how a repeated submit finds its job and execution.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.cloud_run.errors import translated
from providers.cloud_run.logs import LOGGING_ENDPOINT, CloudLoggingReader
from providers.cloud_run.request import (
    ATTEMPT_LABEL,
    KEEP_LABEL,
    RUN_LABEL,
    CloudRunRequest,
    build_request,
)
from providers.cloud_run.sdk import sdk
from providers.cloud_run.status import FAILED, SUCCEEDED, execution_status
from providers.google_api import api_status
from providers.shared import TerminalMemo, dns_name

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
log = logging.getLogger(__name__)


class CloudRunClients:
    """The three v2 clients, built on first use from one set of credentials."""

    def __init__(
        self,
        *,
        credentials: Any = None,
        client_options: Mapping[str, Any] | None = None,
        transport: str = "rest",
    ) -> None:
        self._kwargs = {
            "credentials": credentials,
            "client_options": dict(client_options or {}),
            "transport": transport,
        }

    @cached_property
    def jobs(self) -> Any:
        return sdk().run_v2.JobsClient(**self._kwargs)

    @cached_property
    def executions(self) -> Any:
        return sdk().run_v2.ExecutionsClient(**self._kwargs)

    @cached_property
    def tasks(self) -> Any:
        return sdk().run_v2.TasksClient(**self._kwargs)

    @cached_property
    def logging_session(self) -> Any:
        """An authorised HTTP session for Cloud Logging's REST API."""
        credentials = self._kwargs["credentials"]
        if credentials is None:
            import google.auth  # noqa: PLC0415 - SDK imported lazily

            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

        # google-auth ships no annotations for AuthorizedSession (and typeshed has no stubs)
        return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

    @property
    def logging_endpoint(self) -> str:
        """Cloud Logging, or the endpoint the clients were pointed at (a fake, a proxy)."""
        options = self._kwargs["client_options"]
        return str(options.get("api_endpoint") or LOGGING_ENDPOINT)


class CloudRunProvider:
    """``core.ports.Provider`` for Cloud Run v2 jobs."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # Cloud Logging entries of the execution (providers/cloud_run/logs.py)

    def __init__(
        self,
        clients: CloudRunClients,
        *,
        request_timeout: float = 30.0,
        create_timeout: float = 60.0,
        poll_interval: float = 1.0,
        default_project: str | None = None,
    ) -> None:
        self.clients = clients
        self.default_project = default_project
        self._timeout = request_timeout
        self._create_timeout = create_timeout
        self._poll_interval = poll_interval
        self._memo = TerminalMemo()
        self._logs = CloudLoggingReader(
            lambda: clients.logging_session, endpoint=clients.logging_endpoint
        )

    def build_request(self, job: Job) -> CloudRunRequest:
        return build_request(job, default_project=self.default_project)

    def submit(self, request: CloudRunRequest, *, idempotency_key: str) -> str:
        job_name = f"{request.parent}/jobs/{dns_name(idempotency_key)}"
        with translated("submit the Cloud Run job"):
            self._ensure_job(request, job_name)
            existing = self._existing_execution(job_name, request.job.labels)
            if existing is not None:
                return existing
            operation = self.clients.jobs.run_job(name=job_name, timeout=self._timeout)
            return str(operation.metadata.name)

    def status(self, infra_id: str) -> InfraStatus:
        remembered = self._memo.get(infra_id)
        if remembered is not None:
            return remembered
        exceptions = sdk().exceptions
        with translated("read the Cloud Run execution"):
            try:
                execution = self.clients.executions.get_execution(
                    name=infra_id, timeout=self._timeout
                )
            except exceptions.NotFound:
                return InfraStatus(
                    phase=InfraPhase.CRASHED,
                    reason=f"Cloud Run execution {infra_id} no longer exists",
                )
            status = execution_status(execution, lambda: self._exit_codes(execution.name))
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        if execution.labels.get(KEEP_LABEL) != "true":
            self._delete_job(infra_id.split("/executions/", maxsplit=1)[0])
        return self._memo.remember(infra_id, status)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        return self._logs.read(infra_id, after=after)

    def cancel(self, infra_id: str) -> None:
        exceptions = sdk().exceptions
        with translated("cancel the Cloud Run execution"):
            try:
                self.clients.executions.cancel_execution(name=infra_id, timeout=self._timeout)
            except (exceptions.NotFound, exceptions.FailedPrecondition):
                return  # gone or already finished: nothing left to stop

    # -- steps -------------------------------------------------------------------------------

    def _ensure_job(self, request: CloudRunRequest, job_name: str) -> None:
        """Create the job, or find it if a previous submit did; fail unless it is ready."""
        exceptions = sdk().exceptions
        try:
            operation = self.clients.jobs.create_job(
                parent=request.parent,
                job=request.job,
                job_id=job_name.rsplit("/", 1)[-1],
                timeout=self._timeout,
            )
        except exceptions.Conflict as exc:
            if api_status(exc) not in {"ALREADY_EXISTS", ""}:
                raise
            job = self.clients.jobs.get_job(name=job_name, timeout=self._timeout)
        else:
            polling = (
                sdk()
                .polling.DEFAULT_POLLING.with_delay(
                    initial=self._poll_interval, maximum=self._poll_interval * 4
                )
                .with_timeout(self._create_timeout)
            )
            job = operation.result(timeout=self._create_timeout, polling=polling)
        condition = job.terminal_condition
        if condition.state == FAILED:
            raise InfrastructureError(
                f"Cloud Run job {job_name} is not ready: {condition.message}", retryable=False
            )
        if condition.state != SUCCEEDED:
            raise InfrastructureError(
                f"Cloud Run job {job_name} is still being created; retry shortly",
                retryable=True,
            )

    def _existing_execution(self, job_name: str, labels: Mapping[str, str]) -> str | None:
        """The oldest execution of the job carrying this run's and attempt's labels."""
        mine = [
            execution
            for execution in self.clients.executions.list_executions(
                parent=job_name, timeout=self._timeout
            )
            if all(execution.labels.get(k) == labels[k] for k in (RUN_LABEL, ATTEMPT_LABEL))
        ]
        if not mine:
            return None
        return str(min(mine, key=lambda e: (e.create_time, e.name)).name)

    def _exit_codes(self, execution_name: str) -> list[int]:
        tasks = self.clients.tasks.list_tasks(parent=execution_name, timeout=self._timeout)
        return [task.last_attempt_result.exit_code for task in tasks]

    def _delete_job(self, job_name: str) -> None:
        """Best effort: a job left behind costs nothing while idle; the outcome is known."""
        try:
            with translated("delete the finished Cloud Run job"):
                self.clients.jobs.delete_job(name=job_name, timeout=self._timeout)
        except InfrastructureError as error:
            log.warning("could not delete %s: %s", job_name, error)
