"""``build_request``: a rendered ECS job configuration -> the calls to make. Pure.

Plan, then execute: this module decides everything (task definition, RunTask
arguments, tags, overrides) without touching AWS, so the result can be
golden-file tested and shown in dry runs; ``EcsProvider.submit`` only sends.

The configuration has Prefect's ECS template shape, so a Prefect base job
template renders into something this accepts unchanged:

* ``task_definition``: a RegisterTaskDefinition body (camelCase keys);
* ``task_run_request``: RunTask keyword arguments (camelCase keys);
* flat variables, which win over the same field in those two: ``image``,
  ``cpu``, ``memory``, ``cluster``, ``launch_type`` (FARGATE, FARGATE_SPOT,
  EC2, EXTERNAL), ``task_definition_arn``, ``task_role_arn``,
  ``execution_role_arn``, ``container_name``, ``family``, ``env``,
  ``command``, ``labels``, ``network_configuration``, ``vpc_id``,
  ``configure_cloudwatch_logs``, ``cloudwatch_logs_options``,
  ``cloudwatch_logs_prefix``.

Keys for a polling worker (``stream_output``, ``task_watch_poll_interval``...)
are accepted and ignored: pushpool watches tasks through events and status.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import InfrastructureError
from core.models import JSON
from core.ports import Job
from providers.ecs.ids import started_by, task_group
from providers.ecs.taskdef import build_task_definition, invalid, stringify

DEFAULT_VPC = "default"
MANAGED = "managed"
LAUNCH_TYPES = ("FARGATE", "FARGATE_SPOT", "EC2", "EXTERNAL")
COMPATIBILITY = {
    "FARGATE": "FARGATE",
    "FARGATE_SPOT": "FARGATE",
    "EC2": "EC2",
    "EXTERNAL": "EXTERNAL",
}
MAX_TAGS = 50
_TAG_CHARS = re.compile(r"[^\w\s+\-=.:/@]")


class EcsSettings(BaseModel):
    """What the provider knows beyond the job: its region and the resources the
    stack created for ``managed`` pools (cluster, network, roles, log group).

    The stack's resources apply to jobs of ``managed`` pools only, and there
    they always win over the job configuration; ``ecs`` and ``ecs:push`` jobs
    run exactly where their configuration says.
    """

    model_config = ConfigDict(frozen=True)

    region: str | None = None
    cluster: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    log_group: str | None = None


class EcsRequest(BaseModel):
    """Everything ``submit`` sends, decided in advance.

    ``task_definition`` is registered once per ``task_definition_hash`` (or
    ``task_definition_arn`` is used as given).  ``run_task`` holds the RunTask
    arguments except ``taskDefinition`` and ``clientToken``.  Two things are
    resolved at submit time because they need AWS: the subnets of
    ``subnets_of_vpc`` (a VPC id, or ``"default"``) and, when
    ``container_name`` is None, the container of a given task definition ARN.
    """

    model_config = ConfigDict(frozen=True)

    run_task: JSON
    task_definition: JSON | None = None
    task_definition_hash: str | None = None
    task_definition_arn: str | None = None
    container_name: str | None = None
    subnets_of_vpc: str | None = None


def build_request(job: Job, settings: EcsSettings | None = None) -> EcsRequest:
    """Turn one rendered job into an ``EcsRequest``; raises terminal
    ``InfrastructureError`` for configurations ECS would reject anyway."""
    settings = settings or EcsSettings()
    config = without_nulls(job.configuration)
    managed = job.pool_type == MANAGED
    if managed:
        config = managed_configuration(config, settings)
    run_request = without_nulls(dict(config.get("task_run_request") or {}))
    launch_type = launch_type_of(config, run_request)
    network = settings_network(settings) if managed else explicit_network(config, run_request)
    compatibility = compatibility_of(launch_type, run_request)
    arn = config.get("task_definition_arn") or run_request.get("taskDefinition")
    definition = digest = None
    container_name: str | None = config.get("container_name")
    if not arn:
        definition, container_name, digest = build_task_definition(
            config,
            compatibility=compatibility,
            awsvpc=network is not None or bool(config.get("vpc_id")),
            region=settings.region,
            managed_log_group=settings.log_group if managed else None,
        )
    run_task = run_task_arguments(
        job, config, run_request, launch_type=launch_type, container_name=container_name
    )
    run_task["cluster"] = config.get("cluster") or run_request.get("cluster")
    run_task["networkConfiguration"] = network
    return EcsRequest(
        run_task=without_nulls(run_task),
        task_definition=definition,
        task_definition_hash=digest,
        task_definition_arn=arn,
        container_name=container_name,
        subnets_of_vpc=vpc_to_resolve(config, definition, compatibility, network=network),
    )


def compatibility_of(launch_type: str | None, run_request: Mapping[str, Any]) -> str | None:
    """FARGATE, EC2 or EXTERNAL; for a capacity provider strategy, FARGATE when
    it uses only Fargate providers (else its providers decide: None)."""
    if launch_type is not None:
        return COMPATIBILITY[launch_type]
    providers = [
        str(item.get("capacityProvider", ""))
        for item in run_request.get("capacityProviderStrategy") or []
    ]
    if providers and all(name in ("FARGATE", "FARGATE_SPOT") for name in providers):
        return "FARGATE"
    return None


def vpc_to_resolve(
    config: Mapping[str, Any],
    definition: JSON | None,
    compatibility: str | None,
    *,
    network: JSON | None,
) -> str | None:
    """The VPC whose subnets ``submit`` must look up: the job's ``vpc_id`` or
    the default VPC, when the task needs awsvpc networking and none was given.
    With a task definition ARN the network mode is unknown, so Fargate is the
    signal (Fargate tasks are always awsvpc)."""
    if network is not None:
        return None
    if definition is not None:
        needs_network = definition.get("networkMode") == "awsvpc"
    else:
        needs_network = compatibility == "FARGATE" or bool(config.get("vpc_id"))
    return str(config.get("vpc_id") or DEFAULT_VPC) if needs_network else None


def without_nulls(value: Any) -> Any:
    """A deep copy without None values (a missing template variable renders to
    a missing key, but hand-written configurations may hold nulls)."""
    if isinstance(value, Mapping):
        return {str(k): without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value if item is not None]
    return copy.deepcopy(value)


def managed_configuration(config: JSON, settings: EcsSettings) -> JSON:
    """A managed pool runs on the stack's Fargate cluster, network and roles,
    whatever the template says; users choose only image, cpu, memory and env."""
    if not settings.cluster or not settings.subnets:
        raise InfrastructureError(
            "this installation has no managed ECS cluster: the stack's cluster and subnets "
            "were not passed to the ECS provider (see handlers/bootstrap)",
            retryable=False,
        )
    managed = {
        key: value
        for key, value in config.items()
        if key not in {"task_definition_arn", "vpc_id", "network_configuration", "cluster"}
    }
    if managed.get("launch_type") not in (None, "FARGATE", "FARGATE_SPOT"):
        managed["launch_type"] = "FARGATE"
    run_request = dict(managed.get("task_run_request") or {})
    for key in ("taskDefinition", "networkConfiguration", "launchType", "cluster"):
        run_request.pop(key, None)
    managed["task_run_request"] = run_request
    managed["cluster"] = settings.cluster
    managed["execution_role_arn"] = settings.execution_role_arn
    managed["task_role_arn"] = settings.task_role_arn or config.get("task_role_arn")
    return {key: value for key, value in managed.items() if value is not None}


def launch_type_of(config: Mapping[str, Any], run_request: Mapping[str, Any]) -> str | None:
    """The launch type, FARGATE by default; None when the template sets its own
    capacity provider strategy (the two are mutually exclusive in RunTask) and
    the launch type is not FARGATE_SPOT, which is itself a strategy."""
    launch_type = config.get("launch_type") or run_request.get("launchType") or "FARGATE"
    launch_type = str(launch_type).upper()
    if launch_type not in LAUNCH_TYPES:
        raise invalid(f"launch_type {launch_type!r} is not one of {', '.join(LAUNCH_TYPES)}")
    if run_request.get("capacityProviderStrategy") and launch_type != "FARGATE_SPOT":
        return None  # Prefect's rule: a strategy replaces the (defaulted) launch type
    return launch_type


def explicit_network(config: Mapping[str, Any], run_request: Mapping[str, Any]) -> JSON | None:
    """The awsvpc network the job names, as RunTask's ``networkConfiguration``.

    ``network_configuration`` may be the full value or just its
    ``awsvpcConfiguration`` part (both shapes appear in Prefect templates).
    """
    network = config.get("network_configuration") or run_request.get("networkConfiguration")
    if not network:
        return None
    if not isinstance(network, Mapping):
        raise invalid("network_configuration must be an object")
    if "awsvpcConfiguration" not in network:
        network = {"awsvpcConfiguration": network}
    awsvpc = dict(network["awsvpcConfiguration"])
    if not awsvpc.get("subnets"):
        raise invalid("network_configuration.awsvpcConfiguration.subnets must list a subnet id")
    if isinstance(awsvpc.get("assignPublicIp"), bool):
        awsvpc["assignPublicIp"] = "ENABLED" if awsvpc["assignPublicIp"] else "DISABLED"
    return {"awsvpcConfiguration": awsvpc}


def settings_network(settings: EcsSettings) -> JSON:
    awsvpc: JSON = {
        "subnets": list(settings.subnets),
        "assignPublicIp": "ENABLED" if settings.assign_public_ip else "DISABLED",
    }
    if settings.security_groups:
        awsvpc["securityGroups"] = list(settings.security_groups)
    return {"awsvpcConfiguration": awsvpc}


def run_task_arguments(
    job: Job,
    config: Mapping[str, Any],
    run_request: Mapping[str, Any],
    *,
    launch_type: str | None,
    container_name: str | None,
) -> JSON:
    """RunTask arguments other than cluster, network, definition and token."""
    arguments = {
        key: value
        for key, value in run_request.items()
        if key not in {"taskDefinition", "clientToken", "count", "cluster", "networkConfiguration"}
    }
    if launch_type == "FARGATE_SPOT":
        arguments.pop("launchType", None)
        arguments["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    elif launch_type is None:
        arguments.pop("launchType", None)  # the template's strategy places the task
    else:
        arguments.pop("capacityProviderStrategy", None)
        arguments["launchType"] = launch_type
    overrides = dict(arguments.get("overrides") or {})
    overrides["containerOverrides"] = container_overrides(
        overrides.get("containerOverrides") or [], config, container_name
    )
    for field in ("cpu", "memory"):
        if field in overrides:
            overrides[field] = stringify(overrides[field])
    if config.get("task_role_arn"):
        overrides["taskRoleArn"] = config["task_role_arn"]
    arguments["overrides"] = overrides
    arguments["tags"] = task_tags(job, config.get("labels"), arguments.get("tags"))
    arguments["group"] = task_group(job.run_id, job.attempt)
    arguments["startedBy"] = started_by(job.run_id)
    return arguments


def container_overrides(
    existing: list[Any], config: Mapping[str, Any], container_name: str | None
) -> list[JSON]:
    """The flow container's override first (env, command), then any others.

    Environment from the template's override comes first and the job's ``env``
    (which carries the injected ``PUSHPOOL_*`` variables) wins by name.
    """
    others: list[JSON] = []
    ours: JSON = {}
    for entry in map(integer_sizes, existing):
        if not ours and entry.get("name") in (None, container_name):
            ours = entry
        else:
            others.append(entry)
    environment = environment_dict(ours.get("environment"))
    environment.update(environment_dict(config.get("env")))
    command = config.get("command") or ours.get("command")
    ours = {key: value for key, value in ours.items() if key not in {"environment", "command"}}
    if container_name is not None:
        ours["name"] = container_name
    if environment:
        ours["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    if command:
        ours["command"] = shlex.split(command) if isinstance(command, str) else list(command)
    return [ours, *others]


def integer_sizes(entry: Mapping[str, Any]) -> JSON:
    """A container override with cpu/memory as the integers RunTask wants
    (templates often render them as strings such as "1024")."""
    sized = dict(entry)
    for field in ("cpu", "memory", "memoryReservation"):
        value = sized.get(field)
        if isinstance(value, str) and value.strip().isdigit():
            sized[field] = int(value)
    return sized


def environment_dict(value: Any) -> dict[str, str]:
    """``{name: value}`` from an env mapping or ECS's ``[{name, value}]`` list."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [(item.get("name"), item.get("value")) for item in value]
    else:
        raise invalid("env must be an object of names to values")
    return {str(name): stringify(val) for name, val in pairs if name and val is not None}


def task_tags(job: Job, labels: Any, template_tags: Any) -> list[JSON]:
    """Run tags first (run id, pool, deployment, attempt), then the labels.

    Values are made acceptable to ECS (allowed characters, 128/256 lengths,
    no ``aws:`` keys, at most 50 tags); the run tags can never be dropped.
    """
    run_tags = {
        "pushpool.io/flow-run-id": job.run_id,
        "pushpool.io/work-pool": job.pool_name,
        "pushpool.io/deployment": job.deployment_id,
        "pushpool.io/attempt": str(job.attempt),
    }
    merged: dict[str, str] = {}
    for key, value in (*tag_pairs(template_tags), *tag_pairs(labels), *run_tags.items()):
        if value is None or str(key).lower().startswith("aws:"):
            continue
        merged[_tag_text(key, 128)] = _tag_text(value, 256)
    ordered = [key for key in run_tags if key in merged]
    ordered += [key for key in merged if key not in run_tags]
    return [{"key": key, "value": merged[key]} for key in ordered[:MAX_TAGS]]


def tag_pairs(value: Any) -> list[tuple[Any, Any]]:
    if not value:
        return []
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, list):
        return [(item.get("key"), item.get("value")) for item in value]
    raise invalid("labels must be an object of names to values")


def _tag_text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return _TAG_CHARS.sub("_", text)[:limit]
