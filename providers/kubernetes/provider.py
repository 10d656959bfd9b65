"""``KubernetesProvider``: create, poll and delete Jobs in one cluster.

The client is imported inside the provider, never at module import (see the
package docstring for naming, stuck pods and finished-Job cleanup).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.logs import truncate
from core.ports import InfraPhase, InfraStatus, Job, LogChunk, OutputLine
from providers.kubernetes.errors import ApiStatus, translated
from providers.kubernetes.request import (
    ATTEMPT_LABEL,
    DEFAULT_POD_WATCH_TIMEOUT,
    RUN_LABEL,
    KubernetesRequest,
    build_request,
)
from providers.kubernetes.status import failed_status, stuck_reason
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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        importlib.import_module("kubernetes.client")  # a missing extra fails at load time
        self._configuration = configuration
        self._kubeconfig = kubeconfig
        self._context = context
        self._in_cluster = in_cluster
        self._propagation = propagation_policy
        self._clock = clock or (lambda: datetime.now(UTC))
        self._apis: tuple[Any, Any] | None = None
        self._timeouts: dict[str, float] = {}
        self._final = TerminalMemo()
        self._cancelled: set[str] = set()

    def _clients(self) -> tuple[Any, Any]:
        """(BatchV1Api, CoreV1Api), configured on first use."""
        if self._apis is None:
            from kubernetes import client  # noqa: PLC0415 - lazy on purpose (module docstring)

            api_client = client.ApiClient(self._configuration or self._load_configuration())
            self._apis = (client.BatchV1Api(api_client), client.CoreV1Api(api_client))
        return self._apis

    def _load_configuration(self) -> Any:
        """An explicit kubeconfig, else in-cluster when running in a pod, else ~/.kube/config."""
        from kubernetes import client, config  # noqa: PLC0415

        configuration = client.Configuration()
        in_cluster = self._in_cluster
        if in_cluster is None:
            in_cluster = self._kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            else:
                config.load_kube_config(
                    config_file=self._kubeconfig,
                    context=self._context,
                    client_configuration=configuration,
                )
        except config.ConfigException as exc:
            where = "in-cluster" if in_cluster else (self._kubeconfig or "~/.kube/config")
            raise InfrastructureError(
                f"kubernetes: no usable configuration ({where}): {exc}", retryable=False
            ) from exc
        return configuration

    def build_request(self, job: Job) -> KubernetesRequest:
        return build_request(job)

    def submit(self, request: KubernetesRequest, *, idempotency_key: str) -> str:
        """Create the Job; a 409 means an earlier submit already did."""
        batch, _ = self._clients()
        infra_id = f"{request.namespace}/{request.name}"
        try:
            with translated(f"create job {infra_id}", let_through=(409,)):
                batch.create_namespaced_job(request.namespace, body=request.manifest)
        except ApiStatus:
            with translated(f"read job {infra_id}"):
                existing = batch.read_namespaced_job(request.name, request.namespace)
            wanted = request.manifest["metadata"]["labels"]
            labels = existing.metadata.labels or {}
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
        batch, core = self._clients()
        try:
            with translated(f"read job {infra_id}", let_through=(404,)):
                job = batch.read_namespaced_job(name, namespace)
        except ApiStatus:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="job deleted")
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"job {infra_id} vanished (deleted, or cleaned up by "
                "ttlSecondsAfterFinished before its result was read)",
            )
        if job.metadata.deletion_timestamp is not None:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="job deleted")
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"job {infra_id} is being deleted")
        with translated(f"list pods of job {infra_id}"):
            pods = core.list_namespaced_pod(namespace, label_selector=_selector(job)).items
        return self._final.remember(infra_id, self._interpret(infra_id, job, pods))

    def _interpret(self, infra_id: str, job: Any, pods: list[Any]) -> InfraStatus:
        conditions = {c.type: c for c in job.status.conditions or [] if c.status == "True"}
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp, default=None)
        if "Complete" in conditions:
            return InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
        if "Failed" in conditions:
            return failed_status(conditions["Failed"], newest)
        if newest is None:
            return InfraStatus(phase=InfraPhase.PENDING)
        if newest.status.phase != "Pending":
            return InfraStatus(phase=InfraPhase.RUNNING)
        stuck = stuck_reason(newest)
        limit = self._timeouts.get(infra_id, DEFAULT_POD_WATCH_TIMEOUT)
        age = (self._clock() - newest.metadata.creation_timestamp).total_seconds()
        if stuck and age > limit:
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"pod {newest.metadata.name} {stuck} (for more than {limit:g}s)",
            )
        return InfraStatus(phase=InfraPhase.PENDING)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        """The output of the job's newest pod, numbered by line; the cursor is
        ``<pod>:<lines read>``, so a retry pod starts from its first line."""
        namespace, name = _parse(infra_id)
        _, core = self._clients()
        with translated(f"list pods of job {infra_id}"):
            pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp, default=None)
        if newest is None:
            return LogChunk(cursor=after)
        pod = newest.metadata.name
        seen_pod, _, seen = (after or "").rpartition(":")
        done = int(seen) if seen_pod == pod and seen.isdigit() else 0
        try:
            with translated(f"read the log of pod {pod}", let_through=(400, 404)):
                text = core.read_namespaced_pod_log(pod, namespace)
        except ApiStatus:
            return LogChunk(cursor=after)  # not started yet (400) or gone (404): nothing to read
        lines = str(text or "").splitlines()
        now = self._clock()
        fresh = tuple(OutputLine(timestamp=now, message=truncate(x)) for x in lines[done:])
        return LogChunk(lines=fresh, cursor=f"{pod}:{max(len(lines), done)}")

    def cancel(self, infra_id: str) -> None:
        """Delete the Job and, through the propagation policy, its pods."""
        if self._final.get(infra_id) is not None:
            return  # finished: its cleanup belongs to ttlSecondsAfterFinished
        namespace, name = _parse(infra_id)
        batch, _ = self._clients()
        self._cancelled.add(infra_id)
        with (
            contextlib.suppress(ApiStatus),
            translated(f"delete job {infra_id}", let_through=(404,)),
        ):
            batch.delete_namespaced_job(name, namespace, propagation_policy=self._propagation)


def _selector(job: Any) -> str:
    labels = job.metadata.labels or {}
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
