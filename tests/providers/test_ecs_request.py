"""``build_request`` for ECS: golden files for whole requests, then the rules
that make task definitions shareable and requests safe to retry.

Regenerate the golden files after an intended change with
``PUSHPOOL_UPDATE_GOLDEN=1 python -m pytest tests/providers/test_ecs_request.py``
and review the diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import InfrastructureError
from core.templates import render
from providers.ecs import EcsRequest, build_request
from providers.ecs.ids import parse_group
from providers.ecs.request import EcsSettings
from providers.ecs.taskdef import DEFAULT_LOG_GROUP, DEFAULT_STREAM_PREFIX
from providers.registry import REGISTRY
from tests.providers.ecs_jobs import RUN_ID, ecs_job, prefect_shaped
from tests.providers.golden_files import GOLDEN, assert_golden

SETTINGS = EcsSettings(region="us-east-1")
MANAGED = EcsSettings(
    region="eu-west-1",
    cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/pushpool-managed",
    subnets=("subnet-0aaa1111", "subnet-0bbb2222"),
    security_groups=("sg-0ccc3333",),
    execution_role_arn="arn:aws:iam::123456789012:role/pushpool-managed-execution",
    task_role_arn="arn:aws:iam::123456789012:role/pushpool-managed-task",
    log_group="/pushpool/managed",
)


def template_overrides_configuration() -> dict[str, Any]:
    """A hand-written template: container overrides, a capacity provider
    strategy, placement and tags in the task_run_request itself."""
    return {
        "image": "ghcr.io/acme/flows:1.4",
        "env": {"PUSHPOOL_FLOW_RUN_ID": RUN_ID, "MODE": "full", "DEBUG": None},
        "task_definition": {
            "family": "acme/flows",
            "containerDefinitions": [
                {"name": "sidecar", "image": "datadog/agent:7", "essential": False},
                {"name": "flow", "environment": [{"name": "STATIC", "value": "1"}]},
            ],
            "cpu": 2048,
            "memory": 4096,
        },
        "container_name": "flow",
        "task_run_request": {
            "cluster": "batch",
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 3},
            ],
            "overrides": {
                "containerOverrides": [
                    {"name": "flow", "environment": {"MODE": "fast", "REGION": "eu"}},
                    {"name": "sidecar", "environment": [{"name": "DD_ENV", "value": "prod"}]},
                ],
                "cpu": 2048,
            },
            "tags": [{"key": "cost-center", "value": "analytics & ml"}],
            "enableExecuteCommand": True,
            "count": 3,
        },
        "network_configuration": {"subnets": ["subnet-0123"], "assignPublicIp": True},
        "labels": {"aws:reserved": "x", "owner": "data@acme.example"},
    }


def default_ecs_push_rendered() -> dict[str, Any]:
    """The default ``ecs:push`` template (providers/templates/ecs-push.json)
    rendered with image, cluster, env and command, then injected."""
    env = {"A": "1", "PUSHPOOL_FLOW_RUN_ID": RUN_ID}
    return {
        "command": "python -m flows.nightly",
        "env": env,
        "labels": {"pushpool.io/flow-run-id": RUN_ID},
        "cluster": "flows",
        "container_name": "pushpool",
        "task_definition": {
            "containerDefinitions": [{"image": "flows:1", "name": "pushpool"}],
            "cpu": 1024,
            "memory": 2048,
        },
        "task_run_request": {
            "launchType": "FARGATE",
            "cluster": "flows",
            "overrides": {
                "containerOverrides": [
                    {
                        "name": "pushpool",
                        "command": "python -m flows.nightly",
                        "environment": {"A": "1"},
                        "cpu": "1024",
                        "memory": 2048,
                    }
                ],
                "cpu": 1024,
                "memory": 2048,
            },
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
        },
        "task_start_timeout_seconds": 300,
    }


def default_managed_rendered() -> dict[str, Any]:
    """The default ``managed`` template rendered with image, cpu, memory, env."""
    env = {"A": "1", "PUSHPOOL_FLOW_RUN_ID": RUN_ID}
    return {
        "env": env,
        "image": "flows:1",
        "cpu": 512,
        "memory": 1024,
        "task_definition": {
            "containerDefinitions": [{"image": "flows:1", "name": "pushpool"}],
            "cpu": 512,
            "memory": 1024,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
        },
        "task_run_request": {
            "launchType": "FARGATE",
            "overrides": {"containerOverrides": [{"name": "pushpool", "environment": {"A": "1"}}]},
        },
    }


CASES: dict[str, tuple[dict[str, Any], EcsSettings, str]] = {
    "default_ecs_push_template_with_capacity_provider": (
        default_ecs_push_rendered(),
        SETTINGS,
        "ecs:push",
    ),
    "default_ecs_push_template_with_execution_role": (
        {
            **default_ecs_push_rendered(),
            "task_definition": {
                **default_ecs_push_rendered()["task_definition"],
                "executionRoleArn": "arn:aws:iam::123456789012:role/pushpool-execution",
            },
        },
        SETTINGS,
        "ecs:push",
    ),
    "default_managed_template": (default_managed_rendered(), MANAGED, "managed"),
    "fargate_explicit_network": (prefect_shaped(), SETTINGS, "ecs:push"),
    "fargate_spot_default_vpc_with_logs": (
        prefect_shaped(
            launch_type="FARGATE_SPOT",
            network_configuration=None,
            configure_cloudwatch_logs=True,
            cloudwatch_logs_options={"awslogs-group": "/flows/nightly", "mode": "non-blocking"},
        ),
        SETTINGS,
        "ecs:push",
    ),
    "ec2_bridge_custom_family": (
        prefect_shaped(
            launch_type="EC2",
            network_configuration=None,
            container_name="etl",
            family="nightly-etl",
            cpu=None,
            command=["python", "-m", "flows.etl", "--day", "2026-11-28"],
        ),
        SETTINGS,
        "ecs",
    ),
    "registered_task_definition_in_vpc": (
        prefect_shaped(
            task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/etl:7",
            network_configuration=None,
            vpc_id="vpc-0d15ea5e",
            image=None,
        ),
        SETTINGS,
        "ecs:push",
    ),
    "managed_pool": (
        prefect_shaped(
            cluster="someone-elses-cluster",
            launch_type="EC2",
            task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/other:1",
        ),
        MANAGED,
        "managed",
    ),
    "template_overrides_and_capacity_providers": (
        template_overrides_configuration(),
        SETTINGS,
        "ecs:push",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_request_matches_its_golden_file(name: str) -> None:
    configuration, settings, pool_type = CASES[name]
    request = build_request(ecs_job(configuration, pool_type=pool_type), settings)
    assert_golden(f"ecs_{name}.json", request.model_dump(mode="json"))


def test_golden_files_round_trip_into_requests() -> None:
    for path in sorted(GOLDEN.glob("ecs_*.json")):
        request = EcsRequest.model_validate_json(path.read_text())
        assert request.run_task["group"].startswith("pushpool:")


def test_runs_with_the_same_settings_share_one_task_definition() -> None:
    first = build_request(ecs_job(prefect_shaped("run-a"), run_id="run-a"), SETTINGS)
    second = build_request(ecs_job(prefect_shaped("run-b"), run_id="run-b", attempt=4), SETTINGS)

    assert first.task_definition == second.task_definition
    assert first.task_definition_hash == second.task_definition_hash
    assert first.run_task != second.run_task


def test_the_run_token_and_env_stay_out_of_the_task_definition() -> None:
    request = build_request(ecs_job(prefect_shaped()), SETTINGS)

    assert "PUSHPOOL_RUN_TOKEN" not in json.dumps(request.task_definition)
    flow_override = request.run_task["overrides"]["containerOverrides"][0]
    names = {item["name"] for item in flow_override["environment"]}
    assert {"PUSHPOOL_API_URL", "PUSHPOOL_FLOW_RUN_ID", "PUSHPOOL_RUN_TOKEN"} <= names


def test_a_different_image_or_size_is_a_different_task_definition() -> None:
    base = build_request(ecs_job(prefect_shaped()), SETTINGS)
    other_image = build_request(ecs_job(prefect_shaped(image="flows:other")), SETTINGS)
    bigger = build_request(ecs_job(prefect_shaped(memory=4096)), SETTINGS)

    hashes = {
        base.task_definition_hash,
        other_image.task_definition_hash,
        bigger.task_definition_hash,
    }
    assert len(hashes) == 3
    families = {
        r.task_definition["family"] for r in (base, other_image, bigger) if r.task_definition
    }
    assert len(families) == 3


def test_the_family_is_named_after_the_content_hash() -> None:
    request = build_request(ecs_job(prefect_shaped(family="Nightly ETL!")), SETTINGS)

    assert request.task_definition is not None and request.task_definition_hash is not None
    assert request.task_definition["family"] == f"Nightly-ETL--{request.task_definition_hash[:16]}"


def test_the_task_group_names_the_run_and_the_attempt() -> None:
    request = build_request(ecs_job(prefect_shaped(), attempt=3), SETTINGS)

    assert parse_group(request.run_task["group"]) == (RUN_ID, 3)
    assert request.run_task["startedBy"] == f"pushpool/{RUN_ID}"


def test_run_tags_win_over_labels_that_try_to_impersonate_them() -> None:
    configuration = prefect_shaped(labels={"pushpool.io/flow-run-id": "someone-else", "a": "b"})
    request = build_request(ecs_job(configuration), SETTINGS)

    tags = {tag["key"]: tag["value"] for tag in request.run_task["tags"]}
    assert tags["pushpool.io/flow-run-id"] == RUN_ID
    assert tags["a"] == "b"


def test_at_most_fifty_tags_and_the_run_tags_are_never_dropped() -> None:
    labels = {f"label-{i:03}": str(i) for i in range(80)}
    request = build_request(ecs_job(prefect_shaped(labels=labels)), SETTINGS)

    keys = [tag["key"] for tag in request.run_task["tags"]]
    assert len(keys) == 50
    assert keys[:4] == [
        "pushpool.io/flow-run-id",
        "pushpool.io/work-pool",
        "pushpool.io/deployment",
        "pushpool.io/attempt",
    ]


def test_fargate_spot_becomes_a_capacity_provider_strategy_without_launch_type() -> None:
    request = build_request(ecs_job(prefect_shaped(launch_type="fargate_spot")), SETTINGS)

    assert "launchType" not in request.run_task
    assert request.run_task["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]
    assert request.task_definition is not None
    assert request.task_definition["requiresCompatibilities"] == ["FARGATE"]


def test_a_capacity_provider_strategy_replaces_the_defaulted_launch_type() -> None:
    request = build_request(ecs_job(default_ecs_push_rendered()), SETTINGS)

    assert "launchType" not in request.run_task
    assert request.run_task["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1}
    ]


def test_fargate_without_a_network_resolves_the_default_vpc_at_submit() -> None:
    request = build_request(ecs_job(prefect_shaped(network_configuration=None)), SETTINGS)

    assert request.subnets_of_vpc == "default"
    assert "networkConfiguration" not in request.run_task


def test_building_leaves_the_job_configuration_unchanged() -> None:
    job = ecs_job(template_overrides_configuration())
    before = json.dumps(job.configuration, sort_keys=True)

    build_request(job, SETTINGS)

    assert json.dumps(job.configuration, sort_keys=True) == before


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"image": None}, "has no image"),
        ({"launch_type": "LAMBDA"}, "launch_type 'LAMBDA'"),
        ({"configure_cloudwatch_logs": True, "execution_role_arn": None}, "execution role"),
        ({"network_configuration": {"awsvpcConfiguration": {"subnets": []}}}, "subnets"),
        ({"env": "A=1"}, "env must be an object"),
    ],
)
def test_configurations_ecs_would_reject_fail_early_and_terminally(
    variables: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InfrastructureError) as raised:
        build_request(ecs_job(prefect_shaped(**variables)), SETTINGS)
    assert raised.value.retryable is False
    assert fragment in str(raised.value)


def awslogs_of(configuration: dict[str, Any]) -> Any:
    request = build_request(ecs_job(configuration), SETTINGS)
    return request.task_definition["containerDefinitions"][0].get("logConfiguration")


def test_the_default_template_logs_when_the_task_has_an_execution_role() -> None:
    template = REGISTRY.default_template("ecs:push")
    role = "arn:aws:iam::123456789012:role/pushpool-execution"
    with_role = render(template, run_variables={"image": "flows:1", "execution_role_arn": role})
    without = render(template, run_variables={"image": "flows:1"})
    assert "configure_cloudwatch_logs" not in with_role  # unset by default: decided by the role
    assert awslogs_of(with_role) == {
        "logDriver": "awslogs",
        "options": {  # no awslogs-create-group: the provider creates the group (test_ecs_logs)
            "awslogs-group": DEFAULT_LOG_GROUP,
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": DEFAULT_STREAM_PREFIX,
        },
    }
    assert awslogs_of(without) is None  # no role: the task still runs, without logs


@pytest.mark.parametrize(
    ("variables", "logs"),
    [
        ({"configure_cloudwatch_logs": None}, True),  # unset, with the role prefect_shaped sets
        ({"configure_cloudwatch_logs": None, "execution_role_arn": None}, False),
        ({"configure_cloudwatch_logs": False}, False),  # turned off explicitly despite the role
        ({"configure_cloudwatch_logs": True}, True),
    ],
)
def test_cloudwatch_logging_follows_the_flag_or_else_the_execution_role(
    variables: dict[str, Any], logs: bool
) -> None:
    assert (awslogs_of(prefect_shaped(**variables)) is not None) is logs


def test_an_unset_flag_leaves_a_containers_own_log_configuration_alone() -> None:
    own = {"logDriver": "awsfirelens", "options": {"Name": "datadog"}}
    configuration = prefect_shaped(configure_cloudwatch_logs=None)
    configuration["task_definition"]["containerDefinitions"][0]["logConfiguration"] = own
    assert awslogs_of(configuration) == own


def test_an_incompatible_network_mode_for_fargate_is_rejected() -> None:
    configuration = prefect_shaped()
    configuration["task_definition"]["networkMode"] = "bridge"

    with pytest.raises(InfrastructureError, match="networkMode 'bridge'"):
        build_request(ecs_job(configuration), SETTINGS)


def test_a_managed_pool_without_the_stack_settings_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="no managed ECS cluster") as raised:
        build_request(ecs_job(prefect_shaped(), pool_type="managed"), SETTINGS)
    assert raised.value.retryable is False


def test_the_stack_resources_never_leak_into_push_pools() -> None:
    configuration = prefect_shaped(
        cluster=None, network_configuration=None, execution_role_arn=None
    )

    request = build_request(ecs_job(configuration, pool_type="ecs:push"), MANAGED)

    assert "cluster" not in request.run_task
    assert request.subnets_of_vpc == "default"
    assert request.task_definition is not None
    assert "executionRoleArn" not in request.task_definition


def test_a_managed_pool_always_runs_on_the_stack_cluster_network_and_roles() -> None:
    request = build_request(
        ecs_job(prefect_shaped(cluster="elsewhere"), pool_type="managed"), MANAGED
    )

    assert request.run_task["cluster"] == MANAGED.cluster
    awsvpc = request.run_task["networkConfiguration"]["awsvpcConfiguration"]
    assert awsvpc["subnets"] == list(MANAGED.subnets)
    assert awsvpc["securityGroups"] == list(MANAGED.security_groups)
    assert request.task_definition is not None
    assert request.task_definition["executionRoleArn"] == MANAGED.execution_role_arn
    assert request.run_task["overrides"]["taskRoleArn"] == MANAGED.task_role_arn
    logs = request.task_definition["containerDefinitions"][0]["logConfiguration"]
    assert logs["options"]["awslogs-group"] == "/pushpool/managed"
