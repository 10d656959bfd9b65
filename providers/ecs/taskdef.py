"""The task definition a job needs, and its content hash.

Registering a task definition per run is what makes Prefect's ECS worker hit
the ~1/s registration limit (design §9).  Everything that varies per run (env,
command, run token, tags) therefore goes into RunTask overrides, and what is
left — image, cpu, memory, roles, logging, network mode — is a small set of
definitions shared by every run with the same settings.  Each is identified
by the SHA-256 of its canonical JSON and registered once, in a family named
after the hash so that the family itself can be looked up after a cache loss.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError
from core.models import JSON

DEFAULT_CONTAINER_NAME = "pushpool"
DEFAULT_FAMILY = "pushpool"
DEFAULT_LOG_GROUP = "pushpool"
DEFAULT_STREAM_PREFIX = "pushpool"
FARGATE_DEFAULT_CPU = "1024"
FARGATE_DEFAULT_MEMORY = "2048"
HASH_TAG = "pushpool.io/task-definition-hash"
_FAMILY_HASH_CHARS = 16
_FAMILY_BASE_MAX = 255 - _FAMILY_HASH_CHARS - 1
_FAMILY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def invalid(message: str) -> InfrastructureError:
    """A job the pool's template or the deployment must fix; retrying cannot help."""
    return InfrastructureError(f"invalid ECS job configuration: {message}", retryable=False)


def definition_hash(definition: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def family_for(base: str | None, digest: str) -> str:
    """``<base>-<first 16 hex digits of the hash>``, within ECS's family rules."""
    cleaned = _FAMILY_CHARS.sub("-", base or DEFAULT_FAMILY)[:_FAMILY_BASE_MAX]
    return f"{cleaned}-{digest[:_FAMILY_HASH_CHARS]}"


def stringify(value: Any) -> str:
    """ECS wants strings where templates often hold numbers (cpu "1024")."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def select_container(containers: list[JSON], name: str | None) -> tuple[JSON, str]:
    """The container the flow runs in, and its name.

    ``name`` picks the container of that name; failing that, the first unnamed
    container takes it, or a new container is added.  Without a name the first
    container is the flow's (named ``pushpool`` if it has no name).
    """
    if name is not None:
        for container in containers:
            if container.get("name") == name:
                return container, name
        for container in containers:
            if not container.get("name"):
                container["name"] = name
                return container, name
        containers.append({"name": name})
        return containers[-1], name
    first = containers[0]
    first.setdefault("name", DEFAULT_CONTAINER_NAME)
    return first, str(first["name"])


def apply_compatibility(definition: JSON, *, compatibility: str | None, awsvpc: bool) -> None:
    """Make the definition runnable with the chosen launch type.

    ``compatibility`` is FARGATE, EC2 or EXTERNAL (None: a capacity provider
    strategy from the template decides).  Fargate needs ``awsvpc`` networking
    and task-level cpu/memory (Prefect's defaults 1024/2048 when none given).
    """
    if compatibility is not None:
        compatibilities = list(definition.get("requiresCompatibilities") or [])
        if compatibility not in compatibilities:
            compatibilities.append(compatibility)
        definition["requiresCompatibilities"] = compatibilities
    fargate = compatibility == "FARGATE"
    mode = definition.get("networkMode")
    if fargate or awsvpc:
        if mode not in (None, "awsvpc"):
            raise invalid(
                f"networkMode {mode!r} cannot be used with "
                + ("Fargate" if fargate else "a network_configuration")
                + "; use 'awsvpc' or remove it"
            )
        definition["networkMode"] = "awsvpc"
    if fargate:
        definition.setdefault("cpu", FARGATE_DEFAULT_CPU)
        definition.setdefault("memory", FARGATE_DEFAULT_MEMORY)


def wants_logs(config: Mapping[str, Any], *, has_execution_role: bool, has_own: bool) -> bool:
    """``configure_cloudwatch_logs`` as set, or, left unset, on when the task can log.

    ``awslogs`` needs an execution role, so an unset flag logs exactly when the
    task has one: a pool without a role keeps submitting, just without logs.
    Unset, it also leaves a container's own ``logConfiguration`` alone.
    """
    setting = config.get("configure_cloudwatch_logs")
    if setting is None:
        return has_execution_role and not has_own
    return bool(setting)


def log_configuration(
    config: Mapping[str, Any],
    *,
    region: str | None,
    managed_log_group: str | None,
    has_execution_role: bool,
    has_own: bool = False,
) -> JSON | None:
    """The ``awslogs`` configuration the job asks for, if any.

    Managed pools always log to the stack's group.  Otherwise logging (see
    ``wants_logs``) creates (if needed) the ``pushpool`` group;
    ``cloudwatch_logs_options`` override single options.  The stream prefix is
    static on purpose: a per-run value would make every definition unique, and
    ``awslogs`` appends the task id, so the stream is the attempt's anyway.
    """
    if managed_log_group:
        options = {"awslogs-group": managed_log_group, "awslogs-stream-prefix": "pushpool"}
    elif wants_logs(config, has_execution_role=has_execution_role, has_own=has_own):
        options = {
            "awslogs-group": DEFAULT_LOG_GROUP,
            "awslogs-stream-prefix": stringify(
                config.get("cloudwatch_logs_prefix") or DEFAULT_STREAM_PREFIX
            ),
        }
        if config.get("configure_cloudwatch_logs") is not None:
            # Opted in: the execution role creates the group, as it always did.  Left
            # unset, the provider creates it before registering (``ensure_log_group``),
            # so a role with only AmazonECSTaskExecutionRolePolicy can still log.
            options["awslogs-create-group"] = "true"
        extra = config.get("cloudwatch_logs_options") or {}
        options.update({str(key): stringify(value) for key, value in extra.items()})
    else:
        return None
    if region:
        options.setdefault("awslogs-region", region)
    return {"logDriver": "awslogs", "options": options}


def build_task_definition(
    config: Mapping[str, Any],
    *,
    compatibility: str | None,
    awsvpc: bool,
    region: str | None,
    managed_log_group: str | None = None,
) -> tuple[JSON, str, str]:
    """``(definition with its hashed family, container name, content hash)``."""
    definition = copy.deepcopy(dict(config.get("task_definition") or {}))
    containers = [dict(c) for c in definition.get("containerDefinitions") or [{}]]
    container, name = select_container(containers, config.get("container_name"))
    if config.get("image"):
        container["image"] = config["image"]
    if not container.get("image"):
        raise invalid(
            f"container {name!r} has no image: set the `image` job variable "
            "or point `task_definition_arn` at a registered task definition"
        )
    definition["containerDefinitions"] = containers
    for flat, field in (("cpu", "cpu"), ("memory", "memory")):
        if config.get(flat) is not None:
            definition[field] = config[flat]
    for field in ("cpu", "memory"):
        if definition.get(field) is not None:
            definition[field] = stringify(definition[field])
    if config.get("execution_role_arn"):
        definition["executionRoleArn"] = config["execution_role_arn"]
    logs = log_configuration(
        config,
        region=region,
        managed_log_group=managed_log_group,
        has_execution_role=bool(definition.get("executionRoleArn")),
        has_own="logConfiguration" in container,
    )
    if logs is not None:
        container["logConfiguration"] = logs
    if logs is not None and not definition.get("executionRoleArn"):
        raise invalid(
            "CloudWatch logging needs an execution role: set `execution_role_arn` "
            "(a role that may write to CloudWatch Logs)"
        )
    apply_compatibility(definition, compatibility=compatibility, awsvpc=awsvpc)
    definition["family"] = config.get("family") or definition.get("family") or DEFAULT_FAMILY
    digest = definition_hash(definition)
    definition["family"] = family_for(definition["family"], digest)
    return definition, name, digest
