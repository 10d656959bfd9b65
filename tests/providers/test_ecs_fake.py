"""The patched moto ECS behaves as ECS documents (``tests/fakes/moto_ecs.py``).

These pin the fake itself, so a provider test passing on it means something.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.fakes.moto_ecs import REGION, MotoEcs, moto_ecs, task_state_change_event


@pytest.fixture
def ecs(aws: MotoEcs) -> Any:
    client = boto3.client("ecs", region_name=REGION)
    client.create_cluster(clusterName="c")
    return client


@pytest.fixture
def definition(ecs: Any) -> str:
    """A Fargate definition with memory only at task level (no container memory)."""
    registered = ecs.register_task_definition(
        family="f",
        containerDefinitions=[{"name": "app", "image": "busybox"}],
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def network() -> dict[str, Any]:
    """The default VPC's first subnet and default security group."""
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}])[
        "SecurityGroups"
    ][0]
    awsvpc = {"subnets": [subnet["SubnetId"]], "securityGroups": [group["GroupId"]]}
    return {"awsvpcConfiguration": awsvpc}


def run(ecs: Any, definition: str, **extra: Any) -> dict[str, Any]:
    arguments = {
        "cluster": "c",
        "taskDefinition": definition,
        "launchType": "FARGATE",
        "networkConfiguration": network(),
        **extra,
    }
    return dict(ecs.run_task(**arguments)["tasks"][0])


def test_a_repeated_client_token_returns_the_first_task(
    ecs: Any, definition: str, aws: MotoEcs
) -> None:
    first = run(ecs, definition, clientToken="t-1")
    again = run(ecs, definition, clientToken="t-1")
    other = run(ecs, definition, clientToken="t-2")

    assert again["taskArn"] == first["taskArn"]
    assert other["taskArn"] != first["taskArn"]
    assert len(aws.started) == 2


def test_a_client_token_reused_with_other_parameters_conflicts(ecs: Any, definition: str) -> None:
    run(ecs, definition, clientToken="t-1", startedBy="a")

    with pytest.raises(ClientError) as raised:
        run(ecs, definition, clientToken="t-1", startedBy="b")
    assert raised.value.response["Error"]["Code"] == "ConflictException"


def test_tasks_start_provisioning_and_stay_until_moved(
    ecs: Any, definition: str, aws: MotoEcs
) -> None:
    task = run(ecs, definition)
    for _ in range(3):
        described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
        assert described["lastStatus"] == "PROVISIONING"
        assert "exitCode" not in described["containers"][0]

    aws.exit(task["taskArn"], 3)
    described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
    assert (described["lastStatus"], described["stopCode"]) == (
        "STOPPED",
        "EssentialContainerExited",
    )
    assert described["containers"][0]["exitCode"] == 3


def test_fargate_spot_capacity_places_a_task(ecs: Any, definition: str) -> None:
    task = ecs.run_task(
        cluster="c",
        taskDefinition=definition,
        networkConfiguration=network(),
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )["tasks"][0]

    assert task["taskArn"]


def test_stop_task_is_user_initiated_and_unknown_tasks_are_invalid(
    ecs: Any, definition: str, aws: MotoEcs
) -> None:
    task = run(ecs, definition)
    aws.start(task["taskArn"])

    ecs.stop_task(cluster="c", task=task["taskArn"], reason="bye")
    described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
    assert (described["lastStatus"], described["stopCode"]) == ("STOPPED", "UserInitiated")
    assert described["containers"][0]["exitCode"] == 143

    aws.vanish(task["taskArn"])
    with pytest.raises(ClientError) as raised:
        ecs.stop_task(cluster="c", task=task["taskArn"], reason="again")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_described_task_becomes_an_eventbridge_event(ecs: Any, definition: str) -> None:
    task = run(ecs, definition, group="pushpool:r:1")
    described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]

    event = task_state_change_event(described, version=7)

    assert (event["source"], event["detail-type"]) == ("aws.ecs", "ECS Task State Change")
    assert event["resources"] == [task["taskArn"]]
    assert (event["region"], event["account"]) == (REGION, "123456789012")
    assert event["detail"]["group"] == "pushpool:r:1"
    assert event["detail"]["version"] == 7


def test_the_patches_can_join_a_mock_that_already_holds_other_state() -> None:
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="dispatch")["QueueUrl"]
        with moto_ecs(start_mock=False) as fake:
            ecs = boto3.client("ecs", region_name=REGION)
            ecs.create_cluster(clusterName="c")
            arn = ecs.register_task_definition(
                family="f",
                containerDefinitions=[{"name": "app", "image": "busybox"}],
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
            )["taskDefinition"]["taskDefinitionArn"]
            run(ecs, arn, clientToken="t")
            run(ecs, arn, clientToken="t")
            assert len(fake.started) == 1
        assert sqs.get_queue_url(QueueName="dispatch")["QueueUrl"] == url
