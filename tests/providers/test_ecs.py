"""The ECS provider against moto's ECS and EC2 (see ``tests/fakes/moto_ecs.py``):
submit, status, cancel, task definitions shared by content, networks."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from moto.ec2 import utils as ec2_utils

from core.errors import InfrastructureError
from core.ports import InfraPhase
from providers.ecs import EcsProvider, make_provider
from providers.ecs.ids import parse_infra_id
from providers.ecs.provider import MemoryCache
from tests.fakes.moto_ecs import REGION, MotoEcs
from tests.providers.ecs_jobs import RUN_ID, ecs_job, prefect_shaped

CLUSTER = "flows"


class Calls:
    """Counts the API calls a boto3 client makes, by operation name."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        for client in clients:
            client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1


@pytest.fixture
def ecs(aws: MotoEcs) -> Any:
    client = boto3.client("ecs", region_name=REGION)
    client.create_cluster(clusterName=CLUSTER)
    return client


@pytest.fixture
def ec2(aws: MotoEcs) -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def calls(ecs: Any, ec2: Any) -> Calls:
    return Calls(ecs, ec2)


@pytest.fixture
def provider(ecs: Any, ec2: Any) -> EcsProvider:
    return make_provider(ecs_client=ecs, ec2_client=ec2, cache=MemoryCache())


def default_vpc_job(run_id: str = RUN_ID, attempt: int = 1, **variables: Any) -> Any:
    variables.setdefault("network_configuration", None)
    return ecs_job(prefect_shaped(run_id, **variables), run_id=run_id, attempt=attempt)


def new_vpc(ec2: Any, cidr: str) -> str:
    """A VPC with DNS hostnames on (moto's task ENIs need it, as real ones like it)."""
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    return str(vpc_id)


def submit(provider: EcsProvider, job: Any) -> str:
    return provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)


def described(ecs: Any, infra_id: str) -> dict[str, Any]:
    cluster, task_arn = parse_infra_id(infra_id)
    return ecs.describe_tasks(cluster=cluster, tasks=[task_arn], include=["TAGS"])["tasks"][0]


# -- submit ---------------------------------------------------------------------------------


def test_submit_starts_a_fargate_task_that_carries_the_run(provider: EcsProvider, ecs: Any) -> None:
    infra_id = submit(provider, default_vpc_job())

    task = described(ecs, infra_id)
    assert infra_id == f"{task['clusterArn']}|{task['taskArn']}"
    assert task["clusterArn"].endswith(f":cluster/{CLUSTER}")
    assert task["launchType"] == "FARGATE"
    assert task["group"] == f"pushpool:{RUN_ID}:1"
    assert task["startedBy"] == f"pushpool/{RUN_ID}"
    tags = {tag["key"]: tag["value"] for tag in task["tags"]}
    assert tags["pushpool.io/flow-run-id"] == RUN_ID
    assert tags["pushpool.io/work-pool"] == "ecs-push"
    assert tags["pushpool.io/deployment"] == "d-nightly"
    flow = task["overrides"]["containerOverrides"][0]
    env = {item["name"]: item["value"] for item in flow["environment"]}
    assert env["PUSHPOOL_FLOW_RUN_ID"] == RUN_ID
    assert env["PUSHPOOL_RUN_TOKEN"] == f"run-token-for-{RUN_ID}"
    assert flow["command"] == ["python", "-m", "pushpool.run"]
    assert task["overrides"]["taskRoleArn"].endswith("role/flow-task")


def test_a_repeated_submit_of_the_same_claim_returns_the_same_task(
    provider: EcsProvider, aws: MotoEcs
) -> None:
    job = default_vpc_job()

    first = submit(provider, job)
    again = submit(provider, job)

    assert again == first
    assert len(aws.started) == 1


def test_the_default_vpc_supplies_subnets_security_group_and_a_public_ip(
    provider: EcsProvider, ecs: Any, ec2: Any
) -> None:
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0][
        "VpcId"
    ]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]

    infra_id = submit(provider, default_vpc_job())

    network = described(ecs, infra_id)["attachments"][0]["details"]
    subnet = next(item["value"] for item in network if item["name"] == "subnetId")
    assert subnet == min(s["SubnetId"] for s in subnets)
    awsvpc = provider.network_of("default")["awsvpcConfiguration"]
    assert awsvpc["subnets"] == sorted(s["SubnetId"] for s in subnets)
    assert awsvpc["assignPublicIp"] == "ENABLED"
    assert len(awsvpc["securityGroups"]) == 1


def test_a_named_vpc_with_private_subnets_gets_no_public_ip(
    provider: EcsProvider, ecs: Any, ec2: Any
) -> None:
    vpc_id = new_vpc(ec2, "10.20.0.0/16")
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]

    infra_id = submit(provider, default_vpc_job(vpc_id=vpc_id))

    awsvpc = provider.network_of(vpc_id)["awsvpcConfiguration"]
    assert awsvpc["subnets"] == sorted(subnet_ids)
    assert awsvpc["assignPublicIp"] == "DISABLED"
    assert described(ecs, infra_id)["lastStatus"] == "PROVISIONING"


def test_fargate_spot_runs_through_the_capacity_provider(provider: EcsProvider, ecs: Any) -> None:
    infra_id = submit(provider, default_vpc_job(launch_type="FARGATE_SPOT"))

    assert provider.status(infra_id).phase is InfraPhase.PENDING
    assert described(ecs, infra_id)["group"] == f"pushpool:{RUN_ID}:1"


def test_ec2_tasks_run_on_the_cluster_container_instances(
    provider: EcsProvider, ecs: Any, ec2: Any
) -> None:
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = boto3.resource("ec2", region_name=REGION).create_instances(
        ImageId=image, MinCount=1, MaxCount=1
    )[0]
    document = json.dumps(ec2_utils.generate_instance_identity_document(instance))
    ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=document)

    infra_id = submit(provider, default_vpc_job(launch_type="EC2", memory=256, cpu=None))

    task = described(ecs, infra_id)
    assert task["launchType"] == "EC2"
    assert task["containerInstanceArn"]


def test_a_registered_task_definition_arn_is_run_as_given_with_its_own_container(
    provider: EcsProvider, ecs: Any, calls: Calls
) -> None:
    registered = ecs.register_task_definition(
        family="etl",
        containerDefinitions=[{"name": "app", "image": "flows:1", "memory": 512}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
    )["taskDefinition"]["taskDefinitionArn"]

    infra_id = submit(provider, default_vpc_job(task_definition_arn=registered, image=None))

    task = described(ecs, infra_id)
    assert task["taskDefinitionArn"] == registered
    assert task["overrides"]["containerOverrides"][0]["name"] == "app"
    assert calls.counts["RegisterTaskDefinition"] == 1  # only the test's own


def test_a_managed_pool_runs_on_the_stack_cluster_and_subnets(ecs: Any, ec2: Any) -> None:
    ecs.create_cluster(clusterName="pushpool-managed")
    vpc_id = new_vpc(ec2, "10.30.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc_id)
    provider = make_provider(
        ecs_client=ecs,
        ec2_client=ec2,
        cluster="pushpool-managed",
        subnets=[subnet],
        security_groups=[group["GroupId"]],
        execution_role_arn="arn:aws:iam::123456789012:role/managed-execution",
    )
    configuration = {"image": "flows:1", "cpu": 256, "memory": 512, "env": {"A": "1"}}
    job = ecs_job(configuration, pool_type="managed", pool_name="managed")

    infra_id = submit(provider, job)

    task = described(ecs, infra_id)
    assert task["clusterArn"].endswith(":cluster/pushpool-managed")
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == subnet


# -- task definitions ---------------------------------------------------------------------------


def test_twenty_runs_of_the_same_content_register_one_task_definition(
    provider: EcsProvider, ecs: Any, calls: Calls
) -> None:
    infra_ids = [submit(provider, default_vpc_job(run_id=f"run-{n:02}")) for n in range(20)]

    assert len(set(infra_ids)) == 20
    assert calls.counts["RegisterTaskDefinition"] == 1
    definitions = {described(ecs, infra_id)["taskDefinitionArn"] for infra_id in infra_ids}
    assert len(definitions) == 1
    family = definitions.pop().split("/")[-1].split(":")[0]
    assert len(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]) == 1


def test_a_provider_with_an_empty_cache_finds_the_definition_by_its_hashed_family(
    ecs: Any, ec2: Any, calls: Calls
) -> None:
    first = make_provider(ecs_client=ecs, ec2_client=ec2)
    second = make_provider(ecs_client=ecs, ec2_client=ec2)

    one = submit(first, default_vpc_job(run_id="run-1"))
    two = submit(second, default_vpc_job(run_id="run-2"))

    assert calls.counts["RegisterTaskDefinition"] == 1
    assert described(ecs, one)["taskDefinitionArn"] == described(ecs, two)["taskDefinitionArn"]


def test_the_cache_port_holds_the_arn_under_the_content_hash(ecs: Any) -> None:
    cache = MemoryCache()
    provider = make_provider(ecs_client=ecs, cache=cache)
    request = provider.build_request(ecs_job(prefect_shaped()))

    arn = provider.task_definition_arn(request)

    assert cache.values == {f"ecs:task-definition:{REGION}:{request.task_definition_hash}": arn}


def test_a_deregistered_definition_is_not_reused_after_a_cache_loss(
    ecs: Any, ec2: Any, calls: Calls
) -> None:
    first = make_provider(ecs_client=ecs, ec2_client=ec2)
    old = described(ecs, submit(first, default_vpc_job(run_id="run-1")))["taskDefinitionArn"]
    ecs.deregister_task_definition(taskDefinition=old)

    fresh = make_provider(ecs_client=ecs, ec2_client=ec2)
    new = described(ecs, submit(fresh, default_vpc_job(run_id="run-2")))["taskDefinitionArn"]

    assert new != old
    assert calls.counts["RegisterTaskDefinition"] == 2


def test_different_images_get_different_definitions(
    provider: EcsProvider, ecs: Any, calls: Calls
) -> None:
    one = submit(provider, default_vpc_job(run_id="run-1", image="flows:1"))
    two = submit(provider, default_vpc_job(run_id="run-2", image="flows:2"))

    assert calls.counts["RegisterTaskDefinition"] == 2
    assert described(ecs, one)["taskDefinitionArn"] != described(ecs, two)["taskDefinitionArn"]


# -- status and cancel ----------------------------------------------------------------------------


def test_status_follows_the_task_from_provisioning_to_a_clean_exit(
    provider: EcsProvider, aws: MotoEcs
) -> None:
    infra_id = submit(provider, default_vpc_job())
    task_arn = parse_infra_id(infra_id)[1]
    assert provider.status(infra_id).phase is InfraPhase.PENDING

    aws.start(task_arn)
    assert provider.status(infra_id).phase is InfraPhase.RUNNING

    aws.exit(task_arn, 0)
    status = provider.status(infra_id)
    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 0)


def test_a_failing_flow_reports_its_exit_code(provider: EcsProvider, aws: MotoEcs) -> None:
    infra_id = submit(provider, default_vpc_job())
    aws.start(parse_infra_id(infra_id)[1])
    aws.exit(parse_infra_id(infra_id)[1], 2)

    status = provider.status(infra_id)
    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 2)


def test_an_oom_killed_flow_is_crashed_not_failed(provider: EcsProvider, aws: MotoEcs) -> None:
    infra_id = submit(provider, default_vpc_job())
    aws.start(parse_infra_id(infra_id)[1])
    aws.exit(
        parse_infra_id(infra_id)[1],
        137,
        reason="OutOfMemoryError: Container killed due to memory usage",
    )

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "OutOfMemoryError" in status.reason


def test_an_image_that_cannot_be_pulled_crashes_with_ecs_reason(
    provider: EcsProvider, aws: MotoEcs
) -> None:
    infra_id = submit(provider, default_vpc_job())
    aws.fail_to_start(parse_infra_id(infra_id)[1])

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "CannotPullContainerError" in status.reason
    assert "flows:missing" in status.reason


def test_a_task_that_vanished_is_crashed(provider: EcsProvider, aws: MotoEcs) -> None:
    infra_id = submit(provider, default_vpc_job())
    aws.vanish(parse_infra_id(infra_id)[1])

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "vanished" in status.reason


def test_cancel_stops_a_running_task_and_it_ends_cancelled(
    provider: EcsProvider, aws: MotoEcs, ecs: Any, calls: Calls
) -> None:
    infra_id = submit(provider, default_vpc_job())
    aws.start(parse_infra_id(infra_id)[1])

    provider.cancel(infra_id)
    provider.cancel(infra_id)

    assert provider.status(infra_id).phase is InfraPhase.CANCELLED
    assert described(ecs, infra_id)["stoppedReason"] == "Cancelled through pushpool"
    assert calls.counts["StopTask"] == 1


def test_cancel_of_a_finished_or_vanished_task_does_nothing(
    provider: EcsProvider, aws: MotoEcs, calls: Calls
) -> None:
    finished = submit(provider, default_vpc_job(run_id="run-1"))
    aws.exit(parse_infra_id(finished)[1], 0)
    gone = submit(provider, default_vpc_job(run_id="run-2"))
    aws.vanish(parse_infra_id(gone)[1])

    provider.cancel(finished)
    provider.cancel(gone)

    assert calls.counts["StopTask"] == 0
    assert provider.status(finished).phase is InfraPhase.EXITED


# -- errors from the real API shapes --------------------------------------------------------------


def test_a_missing_cluster_is_terminal_and_names_the_cluster(provider: EcsProvider) -> None:
    with pytest.raises(InfrastructureError) as raised:
        submit(provider, default_vpc_job(cluster="does-not-exist"))

    assert raised.value.retryable is False
    assert "'does-not-exist' does not exist" in str(raised.value)


@pytest.mark.filterwarnings("ignore:Exception\\(InvalidSubnetIdError\\):UserWarning")
def test_a_subnet_that_does_not_exist_is_terminal_and_points_at_the_network(
    provider: EcsProvider,
) -> None:
    job = ecs_job(prefect_shaped())  # names subnet-0a1b2c3d, unknown to this account

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job)

    assert raised.value.retryable is False
    assert "network_configuration" in str(raised.value)
    assert "subnet-0a1b2c3d" in str(raised.value)


def test_an_unknown_infrastructure_id_is_a_terminal_error(provider: EcsProvider) -> None:
    with pytest.raises(InfrastructureError) as raised:
        provider.status("not-an-ecs-id")
    assert raised.value.retryable is False


def test_the_provider_declares_events_and_polling() -> None:
    assert EcsProvider.emits_events is True
    assert EcsProvider.supports_polling is True
