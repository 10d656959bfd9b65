"""Kubernetes Job requests: the pure part (job configuration -> ``KubernetesRequest``).

Completes the rendered ``job_manifest`` the way Prefect's Kubernetes worker
does and names the Job deterministically; no client or cluster needed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.shared import command_list

RUN_LABEL = "pushpool.io/flow-run-id"
ATTEMPT_LABEL = "pushpool.io/attempt"
DEFAULT_POD_WATCH_TIMEOUT = 60.0  # Prefect's default for the same variable
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
