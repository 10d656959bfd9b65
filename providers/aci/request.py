"""ACI requests: the pure part (job configuration -> a ``ContainerGroup`` model).

The SDK's model classes are used (imported on first use through ``sdk``),
but nothing is sent: ``AciProvider.submit`` does that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.aci.sdk import sdk
from providers.shared import command_list, flag, string_map

RUN_TAG = "pushpool-run-id"
ATTEMPT_TAG = "pushpool-attempt"
KEEP_TAG = "pushpool-keep-container-group"
# Env names sent as secureValue even when the template lists them under ``env``.
ALWAYS_SECRET = frozenset({"PUSHPOOL_RUN_TOKEN", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"})
_TAG_FORBIDDEN = re.compile(r"[<>%&\\?/]")


@dataclass(frozen=True)
class AciRequest:
    """What ``submit`` sends: where, the ``ContainerGroup`` model, and cleanup policy."""

    subscription_id: str
    resource_group: str
    group: Any  # azure.mgmt.containerinstance.models.ContainerGroup
    keep_container_group: bool


def _required(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not value:
        raise InfrastructureError(
            f"azure-container-instance job configuration needs {key!r}", retryable=False
        )
    return str(value)


def _environment(config: Mapping[str, Any]) -> list[Any]:
    models = sdk().models
    env = string_map(config.get("env"), what="env")
    secret = string_map(config.get("secret_env"), what="secret_env")
    secret |= {name: env.pop(name) for name in sorted(ALWAYS_SECRET & env.keys())}
    plain = [models.EnvironmentVariable(name=k, value=v) for k, v in env.items()]
    hidden = [models.EnvironmentVariable(name=k, secure_value=v) for k, v in secret.items()]
    return sorted(plain + hidden, key=lambda variable: variable.name)


def _resources(config: Mapping[str, Any]) -> Any:
    models = sdk().models
    gpu = None
    if int(config.get("gpu_count") or 0) > 0:
        gpu = models.GpuResource(count=int(config["gpu_count"]), sku=config.get("gpu_sku", "V100"))
    requests = models.ResourceRequests(
        cpu=float(config.get("cpu") or 1.0),
        memory_in_gb=float(config.get("memory") or 1.5),
        gpu=gpu,
    )
    return models.ResourceRequirements(requests=requests)


def _identity(config: Mapping[str, Any]) -> Any:
    identities = list(config.get("identities") or [])
    if not identities:
        return None
    models = sdk().models
    system = "SystemAssigned" in identities
    users = {i: models.UserAssignedIdentities() for i in identities if i != "SystemAssigned"}
    kind = ", ".join(k for k, on in (("SystemAssigned", system), ("UserAssigned", users)) if on)
    return models.ContainerGroupIdentity(type=kind, user_assigned_identities=users or None)


def _registry_credentials(config: Mapping[str, Any]) -> list[Any] | None:
    """``image_registry`` (Prefect's single registry) or ``image_registry_credentials`` (a list)."""
    entries = list(config.get("image_registry_credentials") or [])
    if config.get("image_registry"):
        entries.append(config["image_registry"])
    if not entries:
        return None
    models = sdk().models
    return [
        models.ImageRegistryCredential(
            server=entry.get("server") or entry.get("registry_url"),
            username=entry.get("username"),
            password=entry.get("password"),
            identity=entry.get("identity"),
        )
        for entry in entries
    ]


def _tags(job: Job, config: Mapping[str, Any], keep: bool) -> dict[str, str]:
    """Labels as ARM tags (no ``<>%&\\?/`` in keys), plus the run, attempt and keep flag."""
    labels = string_map(config.get("labels"), what="labels")
    tags = {_TAG_FORBIDDEN.sub("_", k)[:512]: v[:256] for k, v in labels.items()}
    return tags | {
        RUN_TAG: job.run_id,
        ATTEMPT_TAG: str(job.attempt),
        KEEP_TAG: "true" if keep else "false",
        "pushpool-run-name": str(config.get("name") or job.run_name)[:256],
    }


def build_request(job: Job) -> AciRequest:
    """The container group for one attempt of ``job``, and where it goes."""
    config = job.configuration
    models = sdk().models
    keep = flag(config.get("keep_container_group", False))
    container = models.Container(
        name=str(config.get("container_name") or "flow"),
        image=_required(config, "image"),
        command=command_list(config.get("entrypoint")) + command_list(config.get("command"))
        or None,
        environment_variables=_environment(config),
        resources=_resources(config),
    )
    subnets = [
        models.ContainerGroupSubnetId(id=s)
        if isinstance(s, str)
        else models.ContainerGroupSubnetId(**s)
        for s in config.get("subnet_ids") or []
    ]
    dns = config.get("dns_servers")
    group = models.ContainerGroup(
        location=_required(config, "location"),
        tags=_tags(job, config, keep),
        identity=_identity(config),
        containers=[container],
        image_registry_credentials=_registry_credentials(config),
        restart_policy="Never",
        os_type=str(config.get("os_type") or "Linux"),
        subnet_ids=subnets or None,
        dns_config=models.DnsConfiguration(name_servers=list(dns)) if dns else None,
    )
    return AciRequest(
        subscription_id=_required(config, "subscription_id"),
        resource_group=_required(config, "resource_group_name"),
        group=group,
        keep_container_group=keep,
    )
