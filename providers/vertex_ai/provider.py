"""``VertexAIProvider``: create custom jobs, read their state, cancel them.

Vertex AI names a custom job itself (a numeric id), so there is no
client-chosen id to collide on the way Cloud Run's 409 makes its submit
idempotent.  Instead every job carries the run's and attempt's labels:
``submit`` first looks for a job with them and returns it, and after
creating one it looks again and keeps the oldest, cancelling its own if
another submit won a race, so concurrent submits converge on one job.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.google_api import api_status
from providers.vertex_ai.errors import translated
from providers.vertex_ai.request import (
    ATTEMPT_LABEL,
    RUN_LABEL,
    VertexAIRequest,
    build_request,
)
from providers.vertex_ai.sdk import sdk
from providers.vertex_ai.status import custom_job_status

_LOCATION = re.compile(r"^projects/[^/]+/locations/(?P<region>[^/]+)")


class VertexAIClients:
    """One ``JobServiceClient`` per regional endpoint, built on first use.

    Vertex AI serves each region at ``{region}-aiplatform.googleapis.com``;
    an explicit ``api_endpoint`` (a test fake, a private endpoint) is used
    for every region instead.
    """

    def __init__(
        self,
        *,
        credentials: Any = None,
        client_options: Mapping[str, Any] | None = None,
        transport: str = "rest",
    ) -> None:
        self._credentials = credentials
        self._options = dict(client_options or {})
        self._transport = transport
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def for_resource(self, name: str) -> Any:
        """The client for the region a ``projects/*/locations/*...`` name is in."""
        match = _LOCATION.match(name)
        if match is None:
            raise InfrastructureError(f"not a Vertex AI resource name: {name!r}", retryable=False)
        endpoint = (
            self._options.get("api_endpoint") or f"{match['region']}-aiplatform.googleapis.com"
        )
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = sdk().aiplatform_v1.JobServiceClient(
                    credentials=self._credentials,
                    client_options={**self._options, "api_endpoint": endpoint},
                    transport=self._transport,
                )
            return self._clients[endpoint]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
            self._clients.clear()


class VertexAIProvider:
    """``core.ports.Provider`` for Vertex AI custom jobs."""

    emits_events = False
    supports_polling = True

    def __init__(
        self,
        clients: VertexAIClients,
        *,
        request_timeout: float = 30.0,
        default_project: str | None = None,
    ) -> None:
        self.clients = clients
        self.default_project = default_project
        self._timeout = request_timeout

    def build_request(self, job: Job) -> VertexAIRequest:
        return build_request(job, default_project=self.default_project)

    def submit(self, request: VertexAIRequest, *, idempotency_key: str) -> str:
        with translated("submit the Vertex AI custom job"):
            existing = self._oldest_with_labels(request)
            if existing is not None:
                return existing
            client = self.clients.for_resource(request.parent)
            created = client.create_custom_job(
                parent=request.parent, custom_job=request.custom_job, timeout=self._timeout
            )
            winner = self._oldest_with_labels(request) or str(created.name)
            if winner != created.name:
                self.cancel(str(created.name))  # a concurrent submit created one first
            return winner

    def status(self, infra_id: str) -> InfraStatus:
        exceptions = sdk().exceptions
        with translated("read the Vertex AI custom job"):
            try:
                custom_job = self.clients.for_resource(infra_id).get_custom_job(
                    name=infra_id, timeout=self._timeout
                )
            except exceptions.NotFound:
                return InfraStatus(
                    phase=InfraPhase.CRASHED,
                    reason=f"Vertex AI custom job {infra_id} no longer exists",
                )
        return custom_job_status(custom_job)

    def cancel(self, infra_id: str) -> None:
        exceptions = sdk().exceptions
        with translated("cancel the Vertex AI custom job"):
            try:
                self.clients.for_resource(infra_id).cancel_custom_job(
                    name=infra_id, timeout=self._timeout
                )
            except exceptions.NotFound:
                return  # gone: nothing left to stop
            except exceptions.GoogleAPICallError as exc:
                # Over REST a finished job answers 400 FAILED_PRECONDITION (a BadRequest).
                if api_status(exc) != "FAILED_PRECONDITION":
                    raise

    def _oldest_with_labels(self, request: VertexAIRequest) -> str | None:
        """The oldest custom job in the location labelled with this run and attempt."""
        labels = request.labels
        wanted = " AND ".join(f'labels.{k}="{labels[k]}"' for k in (RUN_LABEL, ATTEMPT_LABEL))
        found = self.clients.for_resource(request.parent).list_custom_jobs(
            request={"parent": request.parent, "filter": wanted}, timeout=self._timeout
        )
        mine = [
            custom_job
            for custom_job in found
            if all(custom_job.labels.get(k) == labels[k] for k in (RUN_LABEL, ATTEMPT_LABEL))
        ]
        if not mine:
            return None
        oldest = min(mine, key=lambda c: (c.create_time, _numeric_order(c.name)))
        return str(oldest.name)


def _numeric_order(name: str) -> tuple[int, str]:
    """Order job ids (decimal numbers) by value, without assuming they parse."""
    job_id = name.rsplit("/", 1)[-1]
    return len(job_id), job_id
