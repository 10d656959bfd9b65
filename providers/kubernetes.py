"""Kubernetes pools: a flow run is a batch/v1 Job, driven by the official client.

The pool's ``job_manifest`` arrives already rendered by the template engine;
``build_request`` only completes it the way Prefect's Kubernetes worker does
(env, command, image, labels) and gives it a deterministic name, so a
repeated submit meets the API server's own uniqueness check (409) instead
of creating a second Job.  Finished Jobs are left to
``ttlSecondsAfterFinished`` (the ``finished_job_ttl`` variable): deleting
them here would race with reading their result.

A pod stuck on an image pull or on scheduling does not fail its Job in
Kubernetes; it waits forever.  ``status`` turns such a pod into CRASHED once
it is older than ``pod_watch_timeout_seconds``, with Kubernetes' reason, so
the slot is freed and the user learns why.

Pod output is not streamed (``stream_output`` is ignored): ``kubectl logs``
with the ``pushpool.io/flow-run-id`` label finds it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.shared import TerminalMemo, command_list, retryable_http_status

RUN_LABEL = "pushpool.io/flow-run-id"
ATTEMPT_LABEL = "pushpool.io/attempt"
DEFAULT_POD_WATCH_TIMEOUT = 60.0  # Prefect's default for the same variable
STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "Unschedulable"}
)
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class KubernetesRequest:
    """The Job to create and how to watch it."""

    namespace: str
    manifest: dict[str, Any]
    pod_watch_timeout_seconds: float

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "manifest": self.manifest,
            "pod_watch_timeout_seconds": self.pod_watch_timeout_seconds,
        }


def job_name(job: Job, stem: str) -> str:
    """A DNS-1123 label of at most 63 characters, unique per (run id, attempt)."""
    clean = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")
    digest = hashlib.sha256(f"{job.run_id}:{job.attempt}".encode()).hexdigest()[:12]
    return f"{clean[:50].rstrip('-') or 'pushpool'}-{digest}"


def label_value(value: object) -> str:
    """A valid label value: at most 63 of ``[A-Za-z0-9_.-]``, alphanumeric at both ends."""
    return _LABEL_VALUE.sub("-", str(value))[:63].strip("-_.")


def build_request(job: Job) -> KubernetesRequest:
    """The batch/v1 Job for ``job``'s rendered configuration (pure)."""
    config = job.configuration
    manifest = copy.deepcopy(config.get("job_manifest") or _minimal_manifest())
    if (
        manifest.setdefault("apiVersion", "batch/v1") != "batch/v1"
        or manifest.setdefault("kind", "Job") != "Job"
    ):
        raise InfrastructureError(
            f"job_manifest must be a batch/v1 Job, not {manifest['apiVersion']} {manifest['kind']}",
            retryable=False,
        )
    metadata = manifest.setdefault("metadata", {})
    stem = str(config.get("name") or metadata.pop("generateName", "") or job.run_name)
    metadata.pop("generateName", None)
    namespace = str(config.get("namespace") or metadata.get("namespace") or "default")
    ours = {RUN_LABEL: job.run_id, ATTEMPT_LABEL: str(job.attempt)}
    labels = {**(metadata.get("labels") or {}), **(config.get("labels") or {})}
    metadata |= {
        "name": job_name(job, stem),
        "namespace": namespace,
        "labels": {k: label_value(v) for k, v in labels.items() if v is not None} | ours,
    }
    spec = manifest.setdefault("spec", {})
    _fill_spec(spec, config)
    pod_meta = spec["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **ours}
    timeout = config.get("pod_watch_timeout_seconds")
    return KubernetesRequest(
        namespace=namespace,
        manifest=manifest,
        pod_watch_timeout_seconds=float(timeout or DEFAULT_POD_WATCH_TIMEOUT),
    )


def _minimal_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {},
        "spec": {"template": {"spec": {"containers": [{"name": "pushpool-job"}]}}},
    }


def _fill_spec(spec: dict[str, Any], config: dict[str, Any]) -> None:
    """Complete the Job spec from the top-level variables where the manifest is silent."""
    if spec.get("ttlSecondsAfterFinished") is None and config.get("finished_job_ttl") is not None:
        spec["ttlSecondsAfterFinished"] = int(config["finished_job_ttl"])
    if spec.get("backoffLimit") is None and config.get("backoff_limit") is not None:
        spec["backoffLimit"] = int(config["backoff_limit"])
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")
    if config.get("service_account_name") and not pod.get("serviceAccountName"):
        pod["serviceAccountName"] = config["service_account_name"]
    containers = pod.setdefault("containers", [])
    if not containers:
        containers.append({"name": "pushpool-job"})
    container = containers[0]
    container.setdefault("name", "pushpool-job")
    if not container.get("image"):
        if not config.get("image"):
            raise InfrastructureError(
                "a kubernetes pool job needs an image: set `image` in the deployment or the "
                "pool's job variables",
                retryable=False,
            )
        container["image"] = config["image"]
    container["env"] = _env(container.get("env"), config.get("env") or {})
    args = container.get("args")
    if isinstance(args, str) or (args is None and config.get("command")):
        container["args"] = command_list(args if args is not None else config["command"])


def _env(manifest_env: Any, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """The container's env as a list, the job's ``env`` variable winning by name."""
    if isinstance(manifest_env, dict):
        manifest_env = [{"name": k, "value": v} for k, v in manifest_env.items()]
    entries = {str(e["name"]): dict(e) for e in manifest_env or []}
    for name, value in variables.items():
        entries.pop(str(name), None)
        if value is not None:
            entries[str(name)] = {"name": str(name), "value": value}
    return [
        e if "valueFrom" in e else {"name": e["name"], "value": _text(e.get("value", ""))}
        for e in entries.values()
    ]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class KubernetesProvider:
    """Jobs in one cluster; polled (Job and Pod status), no events."""

    emits_events = False
    supports_polling = True

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
            with _translated(f"create job {infra_id}", let_through=(409,)):
                batch.create_namespaced_job(request.namespace, body=request.manifest)
        except _ApiStatus:
            with _translated(f"read job {infra_id}"):
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
            with _translated(f"read job {infra_id}", let_through=(404,)):
                job = batch.read_namespaced_job(name, namespace)
        except _ApiStatus:
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
        with _translated(f"list pods of job {infra_id}"):
            pods = core.list_namespaced_pod(namespace, label_selector=_selector(job)).items
        return self._final.remember(infra_id, self._interpret(infra_id, job, pods))

    def _interpret(self, infra_id: str, job: Any, pods: list[Any]) -> InfraStatus:
        conditions = {c.type: c for c in job.status.conditions or [] if c.status == "True"}
        newest = max(pods, key=lambda p: p.metadata.creation_timestamp, default=None)
        if "Complete" in conditions:
            return InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
        if "Failed" in conditions:
            return _failed(conditions["Failed"], newest)
        if newest is None:
            return InfraStatus(phase=InfraPhase.PENDING)
        if newest.status.phase != "Pending":
            return InfraStatus(phase=InfraPhase.RUNNING)
        stuck = _stuck(newest)
        limit = self._timeouts.get(infra_id, DEFAULT_POD_WATCH_TIMEOUT)
        age = (self._clock() - newest.metadata.creation_timestamp).total_seconds()
        if stuck and age > limit:
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"pod {newest.metadata.name} {stuck} (for more than {limit:g}s)",
            )
        return InfraStatus(phase=InfraPhase.PENDING)

    def cancel(self, infra_id: str) -> None:
        """Delete the Job and, through the propagation policy, its pods."""
        if self._final.get(infra_id) is not None:
            return  # finished: its cleanup belongs to ttlSecondsAfterFinished
        namespace, name = _parse(infra_id)
        batch, _ = self._clients()
        self._cancelled.add(infra_id)
        with (
            contextlib.suppress(_ApiStatus),
            _translated(f"delete job {infra_id}", let_through=(404,)),
        ):
            batch.delete_namespaced_job(name, namespace, propagation_policy=self._propagation)


def _failed(condition: Any, pod: Any) -> InfraStatus:
    terminated = _terminated(pod)
    if terminated is not None and terminated.reason == "OOMKilled":
        return InfraStatus(
            phase=InfraPhase.CRASHED, exit_code=terminated.exit_code, reason="OOM-killed"
        )
    reason = f"{condition.reason}: {condition.message}" if condition.reason else "job failed"
    if terminated is None:
        return InfraStatus(phase=InfraPhase.CRASHED, reason=reason)
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=terminated.exit_code, reason=reason)


def _terminated(pod: Any) -> Any:
    for status in (pod.status.container_statuses or []) if pod is not None else []:
        if status.state is not None and status.state.terminated is not None:
            return status.state.terminated
    return None


def _stuck(pod: Any) -> str:
    """Why a pending pod cannot make progress on its own, or ''."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state is not None else None
        if waiting is not None and waiting.reason in STUCK_REASONS:
            return f"{waiting.reason}: {waiting.message or ''}".rstrip(": ")
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
            return f"Unschedulable: {condition.message or ''}".rstrip(": ")
    return ""


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


class _ApiStatus(Exception):
    """An API error status the caller asked to handle itself."""


@contextlib.contextmanager
def _translated(action: str, *, let_through: tuple[int, ...] = ()) -> Iterator[None]:
    """Turn client and transport errors into ``InfrastructureError``.

    429 and 5xx can pass with a retry, as can a server that cannot be
    reached; other statuses (invalid manifest, forbidden, missing namespace)
    cannot.  Statuses in ``let_through`` become ``_ApiStatus`` for the caller.
    """
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    try:
        yield
    except ApiException as exc:
        code = exc.status
        if code in let_through:
            raise _ApiStatus(code) from exc
        raise InfrastructureError(
            f"kubernetes: {action} failed ({code}): {_message(exc)}",
            retryable=retryable_http_status(code),
        ) from exc
    except HTTPError as exc:
        raise InfrastructureError(f"kubernetes: {action} failed: {exc}", retryable=True) from exc


def _message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.reason or exc)


def make_provider(**options: Any) -> KubernetesProvider:
    """The registry's entry point.

    ``configuration``: a ``kubernetes.client.Configuration`` (tests pass one
    with ``host``); otherwise ``kubeconfig``/``context``, or in-cluster
    service-account credentials when running inside a pod.
    """
    return KubernetesProvider(**options)
