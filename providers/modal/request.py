"""Modal requests: the pure part (job configuration -> a function call or a sandbox).

Two shapes of work: with ``app_name`` and ``function_name`` a call of a
deployed function, with ``image`` a sandbox running ``command``.  No SDK here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.shared import command_list, string_map

RUN_TAG = "pushpool-run-id"
ATTEMPT_TAG = "pushpool-attempt"


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None
    memory: int | None = None  # MiB, as Modal counts it
    gpu: str | None = None
    timeout: int | None = None  # seconds
    secrets: tuple[str, ...] = ()  # names of Modal secrets


@dataclass(frozen=True)
class FunctionRequest:
    app_name: str
    function_name: str
    environment_name: str | None
    parameters: dict[str, Any]
    env: dict[str, str]
    resources: Resources


@dataclass(frozen=True)
class SandboxRequest:
    app_name: str
    environment_name: str | None
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    resources: Resources
    workdir: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


ModalRequest = FunctionRequest | SandboxRequest


def _resources(config: Mapping[str, Any]) -> Resources:
    secrets = config.get("secrets") or []
    if isinstance(secrets, str):
        secrets = [secrets]
    return Resources(
        cpu=float(config["cpu"]) if config.get("cpu") is not None else None,
        memory=int(config["memory"]) if config.get("memory") is not None else None,
        gpu=str(config["gpu"]) if config.get("gpu") else None,
        timeout=int(config["timeout"]) if config.get("timeout") is not None else None,
        secrets=tuple(str(name) for name in secrets),
    )


def _parameters(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The run's parameters: given explicitly, else the injected ``PUSHPOOL_PARAMETERS``."""
    if config.get("parameters") is not None:
        return dict(config["parameters"])
    try:
        return dict(json.loads(env.get("PUSHPOOL_PARAMETERS") or "{}"))
    except (ValueError, TypeError) as exc:
        raise InfrastructureError(
            "PUSHPOOL_PARAMETERS is not a JSON object", retryable=False
        ) from exc


def build_request(job: Job) -> ModalRequest:
    """The call or sandbox for one attempt of ``job``."""
    config = job.configuration
    env = string_map(config.get("env"), what="env")
    environment = config.get("environment_name") or None
    if config.get("app_name") and config.get("function_name"):
        return FunctionRequest(
            app_name=str(config["app_name"]),
            function_name=str(config["function_name"]),
            environment_name=environment,
            parameters=_parameters(config, env),
            env=env,
            resources=_resources(config),
        )
    if config.get("image"):
        command = command_list(config.get("command"))
        if not command:
            raise InfrastructureError("a Modal sandbox needs a 'command' to run", retryable=False)
        return SandboxRequest(
            app_name=str(config.get("app_name") or "pushpool-sandboxes"),
            environment_name=environment,
            image=str(config["image"]),
            command=tuple(command),
            env=env,
            resources=_resources(config),
            workdir=config.get("working_dir") or None,
            tags={RUN_TAG: job.run_id, ATTEMPT_TAG: str(job.attempt)},
        )
    raise InfrastructureError(
        "modal job configuration needs 'app_name' and 'function_name', or an 'image'",
        retryable=False,
    )
