"""Cloud Run job requests: the pure part (job configuration -> ``run_v2.Job``).

``job_body`` builds the REST JSON; ``build_request`` parses it into the
SDK's proto (imported on first use), which sends nothing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.cloud_run.sdk import sdk
from providers.google_api import gcp_label
from providers.shared import command_list, flag, string_map

RUN_LABEL = "pushpool-run-id"
ATTEMPT_LABEL = "pushpool-attempt"
KEEP_LABEL = "pushpool-keep-job"
DEFAULT_REGION = "us-central1"  # Prefect's cloud-run-v2 default


@dataclass(frozen=True)
class CloudRunRequest:
    """What ``submit`` sends: where, the ``run_v2.Job`` body, and cleanup policy."""

    parent: str  # projects/{project}/locations/{region}
    job: Any  # google.cloud.run_v2.Job
    keep_job: bool


def _drop_nulls(value: Any) -> Any:
    """Remove nulls, and objects left empty by removing them."""
    if isinstance(value, dict):
        cleaned = {k: _drop_nulls(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v != {}}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _prefect_job_body(config: Mapping[str, Any]) -> dict[str, Any]:
    """A Prefect-style ``job_body`` (REST JSON), tidied so the proto parser accepts it.

    Prefect's cloud-run-v2 template renders ``timeout`` as a number and leaves
    unset placeholders as nulls; the REST schema wants ``"600s"`` and absence.
    """
    body = _drop_nulls(copy.deepcopy(config.get("job_body") or {}))
    if not isinstance(body, dict):
        raise InfrastructureError(
            "cloud-run job configuration's 'job_body' must be an object", retryable=False
        )
    task = body.setdefault("template", {}).setdefault("template", {})
    timeout = str(task.pop("timeout", "")).removesuffix("s")
    if timeout:  # "600", 600 or "600s"; "" or "s" when the variable was unset
        task["timeout"] = f"{int(float(timeout))}s"
    for container in task.get("containers") or []:
        if isinstance(container.get("command"), str):
            container["command"] = command_list(container["command"])
        if not container.get("env"):
            container.pop("env", None)
    return body


def _labels(job: Job, config: Mapping[str, Any], keep_job: bool) -> dict[str, str]:
    labels = {
        gcp_label(k, key=True): gcp_label(v)
        for k, v in string_map(config.get("labels"), what="labels").items()
    }
    return labels | {
        RUN_LABEL: gcp_label(job.run_id),
        ATTEMPT_LABEL: str(job.attempt),
        KEEP_LABEL: "true" if keep_job else "false",
    }


def _container(config: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    container = dict(base)
    if config.get("image"):
        container["image"] = config["image"]
    if config.get("command"):
        container["command"] = command_list(config["command"])
    if config.get("args"):
        container["args"] = command_list(config["args"])
    env = {e["name"]: e for e in container.get("env", []) if "name" in e}
    for name, value in string_map(config.get("env"), what="env").items():
        env[name] = {"name": name, "value": value}
    if env:
        container["env"] = [env[name] for name in sorted(env)]
    limits = dict((container.get("resources") or {}).get("limits") or {})
    for key in ("cpu", "memory"):
        if config.get(key):
            limits[key] = str(config[key])
    if limits:
        container["resources"] = {**(container.get("resources") or {}), "limits": limits}
    return container


def build_request(job: Job, *, default_project: str | None = None) -> CloudRunRequest:
    """The ``run_v2.Job`` for one attempt of ``job``, where it goes and its cleanup policy."""
    parent, body, keep_job = job_body(job, default_project=default_project)
    try:
        proto = sdk().run_v2.Job.from_json(json.dumps(body, sort_keys=True))
    except Exception as exc:  # the proto JSON parser raises ParseError / ValueError
        raise InfrastructureError(f"invalid Cloud Run job body: {exc}", retryable=False) from exc
    return CloudRunRequest(parent=parent, job=proto, keep_job=keep_job)


def job_body(job: Job, *, default_project: str | None = None) -> tuple[str, dict[str, Any], bool]:
    """The parent path, the REST ``Job`` body and ``keep_job`` for one attempt."""
    config = job.configuration
    project = config.get("project") or default_project
    region = config.get("region") or DEFAULT_REGION
    if not project:
        raise InfrastructureError(
            "cloud-run job configuration needs 'project' (or a service-account key naming one)",
            retryable=False,
        )
    keep_job = flag(config.get("keep_job", False))
    body = _prefect_job_body(config)
    execution = body.setdefault("template", {})
    task = execution.setdefault("template", {})
    containers = task.get("containers") or [{}]
    task["containers"] = [_container(config, containers[0]), *containers[1:]]
    if config.get("timeout") is not None:
        task["timeout"] = f"{int(config['timeout'])}s"
    if config.get("max_retries") is not None:
        task["maxRetries"] = int(config["max_retries"])
    if config.get("service_account_name"):
        task["serviceAccount"] = config["service_account_name"]
    if config.get("vpc_connector_name"):
        task["vpcAccess"] = {**task.get("vpcAccess", {}), "connector": config["vpc_connector_name"]}
    labels = _labels(job, config, keep_job)
    body["labels"] = {**body.get("labels", {}), **labels}
    execution["labels"] = {**execution.get("labels", {}), **labels}
    annotations = string_map(config.get("labels"), what="labels")
    body["annotations"] = {**body.get("annotations", {}), **annotations}
    body["annotations"]["pushpool.io/run-name"] = str(config.get("name") or job.run_name)
    if config.get("launch_stage"):
        body["launchStage"] = config["launch_stage"]
    return f"projects/{project}/locations/{region}", body, keep_job
