"""The ECS provider for ``ecs`` (pull), ``ecs:push`` and ``managed`` pools.

* ``request``: the pure ``build_request`` (job configuration -> ``EcsRequest``);
* ``taskdef``: task definitions shared by content hash, never one per run;
* ``provider``: ``EcsProvider`` (submit, status, cancel) on an injected client;
* ``status``: ECS task state -> ``InfraStatus``, also for EventBridge events;
* ``ids``: client tokens, task groups and infrastructure ids;
* ``errors``: AWS errors -> ``InfrastructureError`` (retryable or not).

Nothing here creates a client at import time: ``make_provider`` (what the
registry calls) builds one only if none is passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from providers.ecs.provider import ArnCache, EcsProvider
from providers.ecs.request import EcsRequest, EcsSettings, build_request

__all__ = ["EcsProvider", "EcsRequest", "build_request", "make_provider"]


def default_client(region: str | None = None) -> Any:
    """A boto3 ECS client with botocore's standard retry mode.

    Standard mode retries throttling and 5xx a few times inside one call; for
    RunTask that is safe because every retry carries the same ``clientToken``.
    """
    import boto3  # noqa: PLC0415 - SDK imported lazily
    from botocore.config import Config  # noqa: PLC0415 - SDK imported lazily

    return boto3.client(
        "ecs", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 4})
    )


def make_provider(
    *,
    ecs_client: Any = None,
    ec2_client: Any = None,
    logs_client: Any = None,
    cache: ArnCache | None = None,
    region: str | None = None,
    cluster: str | None = None,
    subnets: Sequence[str] = (),
    security_groups: Sequence[str] = (),
    assign_public_ip: bool = False,
    execution_role_arn: str | None = None,
    task_role_arn: str | None = None,
    log_group: str | None = None,
) -> EcsProvider:
    """Build the provider (the registry's entry point; one instance serves
    ``ecs``, ``ecs:push`` and ``managed`` jobs, told apart by ``Job.pool_type``).

    ``cache`` keeps task definition ARNs across invocations (handlers pass
    the Store, which satisfies the ``ArnCache`` port; without one, a
    process-local ``MemoryCache``).  ``cluster``, ``subnets``,
    ``security_groups``, the roles and ``log_group`` are the resources the
    stack created for ``managed`` pools (handlers read them from the
    environment); they are used for ``managed`` jobs only.
    """
    settings = EcsSettings(
        region=region,
        cluster=cluster,
        subnets=tuple(subnets),
        security_groups=tuple(security_groups),
        assign_public_ip=assign_public_ip,
        execution_role_arn=execution_role_arn,
        task_role_arn=task_role_arn,
        log_group=log_group,
    )
    client = ecs_client if ecs_client is not None else default_client(region)
    return EcsProvider(
        client,
        cache=cache,
        settings=settings,
        ec2_client=ec2_client,
        logs_client=logs_client,
    )
