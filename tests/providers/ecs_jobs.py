"""Rendered ECS job configurations for the ECS provider tests.

``prefect_shaped`` is what Prefect's ECS base job template renders to (the
``task_definition`` / ``task_run_request`` shape with flat variables), plus the
values ``core.services.jobs.build_job`` injects (``PUSHPOOL_*`` env, labels).
"""

from __future__ import annotations

import copy
from typing import Any

from core.ports import Job

RUN_ID = "0b6f1c9e-5d7a-4c1e-9a51-3f1d2c8b7a10"


def injected_env(run_id: str = RUN_ID) -> dict[str, str]:
    return {
        "PUSHPOOL_API_URL": "https://api.example.com/api",
        "PUSHPOOL_FLOW_RUN_ID": run_id,
        "PUSHPOOL_RUN_TOKEN": f"run-token-for-{run_id}",
        "PUSHPOOL_PARAMETERS": '{"day":"2026-11-28"}',
    }


def prefect_shaped(run_id: str = RUN_ID, **variables: Any) -> dict[str, Any]:
    """A configuration as Prefect's ECS template renders it; ``variables``
    override the flat values (None removes one, as a missing variable does)."""
    flat: dict[str, Any] = {
        "name": "nightly-etl-42",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2026.11",
        "cluster": "flows",
        "launch_type": "FARGATE",
        "cpu": 512,
        "memory": 1024,
        "command": "python -m pushpool.run",
        "env": {"LOG_LEVEL": "INFO", **injected_env(run_id)},
        "labels": {
            "team": "data",
            "pushpool.io/flow-run-id": run_id,
            "pushpool.io/work-pool": "ecs-push",
            "pushpool.io/deployment": "d-nightly",
        },
        "network_configuration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0a1b2c3d"],
                "securityGroups": ["sg-0f00ba47"],
                "assignPublicIp": "DISABLED",
            }
        },
        "execution_role_arn": "arn:aws:iam::123456789012:role/pushpool-execution",
        "task_role_arn": "arn:aws:iam::123456789012:role/flow-task",
        "configure_cloudwatch_logs": False,
        "stream_output": True,
    }
    flat.update(variables)
    flat = {key: value for key, value in flat.items() if value is not None}
    task_definition: dict[str, Any] = {
        "containerDefinitions": [{"image": flat.get("image"), "name": flat.get("container_name")}],
        "cpu": flat.get("cpu"),
        "memory": flat.get("memory"),
        "executionRoleArn": flat.get("execution_role_arn"),
    }
    task_run_request: dict[str, Any] = {
        "launchType": flat.get("launch_type"),
        "cluster": flat.get("cluster"),
        "overrides": {"taskRoleArn": flat.get("task_role_arn")},
        "tags": flat.get("labels"),
        "taskDefinition": flat.get("task_definition_arn"),
    }
    return _drop_nulls(
        {**flat, "task_definition": task_definition, "task_run_request": task_run_request}
    )


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def ecs_job(
    configuration: dict[str, Any],
    *,
    run_id: str = RUN_ID,
    attempt: int = 1,
    pool_type: str = "ecs:push",
    pool_name: str = "ecs-push",
) -> Job:
    return Job(
        run_id=run_id,
        attempt=attempt,
        run_name="nightly-etl-42",
        pool_name=pool_name,
        pool_type=pool_type,
        deployment_id="d-nightly",
        configuration=copy.deepcopy(configuration),
    )
