"""Docker container requests: the pure part (job configuration -> ``DockerRequest``).

Kept apart from the provider so a dry run or golden test builds the request
without the SDK or a daemon.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.shared import command_list, flag, string_map

RUN_LABEL = "pushpool.io/flow-run-id"
ATTEMPT_LABEL = "pushpool.io/attempt"
AUTO_REMOVE_LABEL = "pushpool.io/auto-remove"
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
DEFAULT_GRACE_SECONDS = 10
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class DockerRequest:
    """The container to create, as arguments of ``DockerClient.containers.create``."""

    name: str
    image: str
    pull_policy: str
    create: dict[str, Any]  # everything else containers.create() takes
    networks: tuple[str, ...]  # the first at create time, the others connected before start
    registry: dict[str, Any] | None  # username, password, registry_url, reauth
    stream_output: bool
    auto_remove: bool
    prefix: str

    def as_json(self) -> dict[str, Any]:
        """The request with the registry password masked (for golden files and dry runs)."""
        masked = None if self.registry is None else {**self.registry, "password": "***"}
        return {**asdict(self), "networks": list(self.networks), "registry": masked}


def container_name(job: Job) -> str:
    """Deterministic from (run id, attempt), readable with the job's name in front."""
    stem = _NAME_CHARS.sub("-", str(job.configuration.get("name") or job.run_name)).strip("-._")
    run = _NAME_CHARS.sub("-", job.run_id)
    return f"{stem[:40] or 'pushpool'}-{run}-{job.attempt}"


def build_request(job: Job) -> DockerRequest:
    """The container for ``job``'s rendered configuration (pure)."""
    config = job.configuration
    image = config.get("image")
    if not image:
        raise InfrastructureError(
            "a docker pool job needs an image: set `image` in the deployment or the pool's "
            "job variables",
            retryable=False,
        )
    pull_policy = config.get("image_pull_policy") or "IfNotPresent"
    if pull_policy not in PULL_POLICIES:
        raise InfrastructureError(
            f"image_pull_policy {pull_policy!r} is not one of {', '.join(PULL_POLICIES)}",
            retryable=False,
        )
    auto_remove = flag(config.get("auto_remove"))
    labels = string_map(config.get("labels"), what="labels")
    labels |= {RUN_LABEL: job.run_id, ATTEMPT_LABEL: str(job.attempt)}
    if auto_remove:
        labels[AUTO_REMOVE_LABEL] = "true"
    networks = tuple(str(n) for n in config.get("networks") or ())
    ours: dict[str, Any] = {
        "command": command_list(config.get("command")) or None,
        "environment": string_map(config.get("env"), what="env"),
        "labels": labels,
        "volumes": [str(v) for v in config.get("volumes") or ()],
        "detach": True,
    }
    optional = {
        "mem_limit": config.get("mem_limit"),
        "memswap_limit": config.get("memswap_limit"),
        "privileged": config.get("privileged") or None,
        "network": networks[0] if networks else None,
        "network_mode": None if networks else config.get("network_mode"),
    }
    ours |= {k: v for k, v in optional.items() if v not in (None, "")}
    create = {**dict(config.get("container_create_kwargs") or {}), **ours}
    return DockerRequest(
        name=container_name(job),
        image=str(image),
        pull_policy=pull_policy,
        create=create,
        networks=networks,
        registry=_registry(config.get("registry_credentials")),
        stream_output=flag(config.get("stream_output", True)),
        auto_remove=auto_remove,
        prefix=f"[{config.get('name') or job.run_name}] ",
    )


def _registry(credentials: object) -> dict[str, Any] | None:
    if not credentials:
        return None
    if not isinstance(credentials, dict) or not credentials.get("username"):
        raise InfrastructureError(
            "registry_credentials needs at least `username`, `password` and `registry_url`",
            retryable=False,
        )
    return {
        "username": credentials["username"],
        "password": credentials.get("password"),
        "registry_url": credentials.get("registry_url"),
        "reauth": bool(credentials.get("reauth", False)),
    }
