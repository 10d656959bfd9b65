"""``KubernetesProvider``: create, poll and delete Jobs in one cluster.

Jobs and Pods travel as the API's own JSON (``api.KubeApi``), never through
the client's models; the client is imported inside the provider, never at
module import (see the package docstring for naming, stuck pods and
finished-Job cleanup).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.logs import truncate
from core.ports import InfraPhase, InfraStatus, Job, LogChunk, OutputLine
from providers.kubernetes.api import KubeApi, job_path, load_configuration, pods_path
from providers.kubernetes.errors import ApiStatus, translated
from providers.kubernetes.request import (
    ATTEMPT_LABEL,
    DEFAULT_POD_WATCH_TIMEOUT,
    RUN_LABEL,
    KubernetesRequest,
    build_request,
)
from providers.kubernetes.status import created_at, job_status
from providers.shared import TerminalMemo


class KubernetesProvider:
    """Jobs in one cluster; polled (Job and Pod status), no events."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # the newest pod's log (read_namespaced_pod_log)

    def __init__(
        self,
        *,
        configuration: Any = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        propagation_policy: str = "Foreground",
        request_timeout: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        importlib.import_module("kubernetes.client")  # a missing extra fails at load time
        self._configuration = configuration
        self._kubeconfig = kubeconfig
        self._context = context
        self._in_cluster = in_cluster
        self._propagation = propagation_policy
        self._request_timeout = request_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._connection: KubeApi | None = None
        self._timeouts: dict[str, float] = {}
        self._final = TerminalMemo()
        self._cancelled: set[str] = set()

    def _api(self) -> KubeApi:
        """The API server's connection, configured on first use."""
        if self._connection is None:
            configuration = self._configuration or load_configuration(
                kubeconfig=self._kubeconfig, context=self._context, in_cluster=self._in_cluster
            )
            self._connection = KubeApi(configuration, timeout=self._request_timeout)
        return self._connection

    def build_request(self, job: Job) -> KubernetesRequest:
        return build_request(job)

    def submit(self, request: KubernetesRequest, *, idempotency_key: str) -> str:
        """Create the Job; a 409 means an earlier submit already did."""
        api = self._api()
        infra_id = f"{request.namespace}/{request.name}"
        try:
            with translated(f"create job {infra_id}", let_through=(409,)):
                api.request("POST", job_path(request.namespace), body=request.manifest)
        except ApiStatus:
            with translated(f"read job {infra_id}"):
                existing = api.request("GET", job_path(request.namespace, request.name))
            wanted = request.manifest["metadata"]["labels"]
            labels = _labels(existing)
            if any(labels.get(k) != wanted[k] for k in (RUN_LABEL, ATTEMPT_LABEL)):
                raise InfrastructureError(
                    f"kubernetes: job {infra_id} already exists for another run "
                    f"({labels.get(RUN_LABEL)!r}); delete it and retry",
                    retryable=False,
                ) from None
        self._timeouts[infra_id] = request.pod_watch_timeout_seconds
        return infra_id

    def status(self, infra_id: str) -> InfraStatus:
        known = self._final.get(infra_id)
        if known is not None:
            return known
        namespace, name = _parse(infra_id)
        api = self._api()
        try:
            with translated(f"read job {infra_id}", let_through=(404,)):
                job = api.request("GET", job_path(namespace, name))
        except ApiStatus:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="job deleted")
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"job {infra_id} vanished (deleted, or cleaned up by "
                "ttlSecondsAfterFinished before its result was read)",
            )
        if (job.get("metadata") or {}).get("deletionTimestamp") is not None:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="job deleted")
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"job {infra_id} is being deleted")
        with translated(f"list pods of job {infra_id}"):
            listed = api.request(
                "GET", pods_path(namespace), query={"labelSelector": _selector(job)}
            )
        pods = [p for p in listed.get("items") or [] if isinstance(p, dict)]
        limit = self._timeouts.get(infra_id, DEFAULT_POD_WATCH_TIMEOUT)
        status = job_status(job, pods, now=self._clock(), pod_watch_timeout=limit)
        return self._final.remember(infra_id, status)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        """The output of the job's newest pod, numbered by line; the cursor is
        ``<pod>:<lines read>``, so a retry pod starts from its first line."""
        namespace, name = _parse(infra_id)
        api = self._api()
        with translated(f"list pods of job {infra_id}"):
            listed = api.request(
                "GET", pods_path(namespace), query={"labelSelector": f"job-name={name}"}
            )
        pods = [p for p in listed.get("items") or [] if isinstance(p, dict)]
        newest = max(pods, key=created_at, default=None)
        if newest is None:
            return LogChunk(cursor=after)
        pod = str((newest.get("metadata") or {}).get("name", ""))
        seen_pod, _, seen = (after or "").rpartition(":")
        done = int(seen) if seen_pod == pod and seen.isdigit() else 0
        try:
            with translated(f"read the log of pod {pod}", let_through=(400, 404)):
                text = api.read_text(pods_path(namespace, pod) + "/log")
        except ApiStatus:
            return LogChunk(cursor=after)  # not started yet (400) or gone (404): nothing to read
        lines = text.splitlines()
        now = self._clock()
        fresh = tuple(OutputLine(timestamp=now, message=truncate(x)) for x in lines[done:])
        return LogChunk(lines=fresh, cursor=f"{pod}:{max(len(lines), done)}")

    def cancel(self, infra_id: str) -> None:
        """Delete the Job and, through the propagation policy, its pods."""
        if self._final.get(infra_id) is not None:
            return  # finished: its cleanup belongs to ttlSecondsAfterFinished
        namespace, name = _parse(infra_id)
        api = self._api()
        self._cancelled.add(infra_id)
        with (
            contextlib.suppress(ApiStatus),
            translated(f"delete job {infra_id}", let_through=(404,)),
        ):
            api.request(
                "DELETE",
                job_path(namespace, name),
                query={"propagationPolicy": self._propagation},
            )


def _labels(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _selector(job: dict[str, Any]) -> str:
    labels = _labels(job)
    return (
        f"{RUN_LABEL}={labels.get(RUN_LABEL, '')},{ATTEMPT_LABEL}={labels.get(ATTEMPT_LABEL, '')}"
    )


def _parse(infra_id: str) -> tuple[str, str]:
    namespace, sep, name = infra_id.partition("/")
    if not sep or not namespace or not name:
        raise InfrastructureError(
            f"{infra_id!r} is not a job id of the form 'namespace/name'", retryable=False
        )
    return namespace, name
