"""Vertex AI custom-job requests: the pure part (job configuration -> REST ``CustomJob``).

The pool's template renders ``job_spec`` with the proto's snake_case field
names (as Prefect's Vertex AI worker does) plus two conveniences,
``service_account_name`` and ``maximum_run_time_hours``; this module turns
that into a ``CustomJob`` body (``custom_job_body``), which ``build_request``
parses into the SDK's proto (imported on first use); nothing is sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.google_api import gcp_label
from providers.shared import command_list, string_map
from providers.vertex_ai.sdk import sdk

RUN_LABEL = "pushpool-run-id"
ATTEMPT_LABEL = "pushpool-attempt"
DEFAULT_REGION = "us-central1"
_DISPLAY_NAME_LIMIT = 128  # Vertex AI's limit on CustomJob.display_name


@dataclass(frozen=True)
class VertexAIRequest:
    """What ``submit`` sends: where, and the ``aiplatform_v1.CustomJob`` body."""

    parent: str  # projects/{project}/locations/{region}
    custom_job: Any  # google.cloud.aiplatform_v1.CustomJob

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.custom_job.labels)


def display_name(job: Job, config: Mapping[str, Any]) -> str:
    """``<name>-<run id>-<attempt>``: readable in the console, unique per attempt."""
    suffix = f"-{job.idempotency_key}"
    base = str(config.get("name") or job.run_name)
    return base[: _DISPLAY_NAME_LIMIT - len(suffix)] + suffix


def _labels(job: Job, config: Mapping[str, Any]) -> dict[str, str]:
    labels = {
        gcp_label(k, key=True): gcp_label(v)
        for k, v in string_map(config.get("labels"), what="labels").items()
    }
    return labels | {RUN_LABEL: gcp_label(job.run_id), ATTEMPT_LABEL: str(job.attempt)}


def _drop_empty(value: Any) -> Any:
    """Remove nulls and the objects and lists left empty by removing them."""
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value if v is not None]
    return value


def _worker_pool(config: Mapping[str, Any], pool: Mapping[str, Any]) -> dict[str, Any]:
    """The first worker pool: the flow's container, with the run's command and env."""
    spec = dict(pool)
    container = dict(spec.get("container_spec") or {})
    if config.get("image"):
        container["image_uri"] = config["image"]
    container["command"] = command_list(config.get("command") or container.get("command"))
    container["args"] = command_list(container.get("args"))
    env = string_map(config.get("env"), what="env")
    container["env"] = [{"name": name, "value": value} for name, value in env.items()]
    if not container.get("image_uri"):
        raise InfrastructureError(
            "vertex-ai job configuration needs an 'image' for the flow's container",
            retryable=False,
        )
    spec["container_spec"] = container
    spec.setdefault("replica_count", 1)
    return spec


def _job_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(dict(config.get("job_spec") or {}))
    service_account = spec.pop("service_account_name", None)
    if service_account:
        spec["service_account"] = service_account
    hours = spec.pop("maximum_run_time_hours", None)
    if hours is not None:
        spec.setdefault("scheduling", {})["timeout"] = f"{int(float(hours) * 3600)}s"
    pools = spec.get("worker_pool_specs") or [{}]
    spec["worker_pool_specs"] = [_worker_pool(config, pools[0]), *pools[1:]]
    return spec


def build_request(job: Job, *, default_project: str | None = None) -> VertexAIRequest:
    """The ``aiplatform_v1.CustomJob`` for one attempt of ``job``, and where it goes."""
    parent, body = custom_job_body(job, default_project=default_project)
    try:
        custom_job = sdk().aiplatform_v1.CustomJob.from_json(json.dumps(body, sort_keys=True))
    except Exception as exc:  # the proto JSON parser raises ParseError / ValueError
        raise InfrastructureError(f"invalid Vertex AI custom job: {exc}", retryable=False) from exc
    return VertexAIRequest(parent=parent, custom_job=custom_job)


def custom_job_body(job: Job, *, default_project: str | None = None) -> tuple[str, dict[str, Any]]:
    """The parent path and the REST ``CustomJob`` body for one attempt."""
    config = job.configuration
    project = config.get("project") or default_project
    if not project:
        raise InfrastructureError(
            "vertex-ai job configuration needs 'project' (or a service-account key naming one)",
            retryable=False,
        )
    region = config.get("region") or DEFAULT_REGION
    body = {
        "display_name": display_name(job, config),
        "labels": _labels(job, config),
        "job_spec": _drop_empty(_job_spec(config)),
    }
    return f"projects/{project}/locations/{region}", body
