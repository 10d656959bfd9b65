"""The ECS provider at the API seam, with botocore's Stubber.

moto ignores ``clientToken`` and cannot produce throttling, ``failures`` or
most error codes, so these tests script ECS's answers instead; the Stubber
checks every request against botocore's service model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber

from core.errors import InfrastructureError
from core.ports import InfraPhase
from providers.ecs import EcsProvider, EcsRequest
from providers.ecs.errors import translate
from providers.ecs.ids import client_token
from providers.ecs.provider import MemoryCache
from providers.ecs.request import EcsSettings
from tests.providers.ecs_jobs import RUN_ID, ecs_job, prefect_shaped

REGION = "us-east-1"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:123456789012:cluster/flows"
TASK_ARN = f"arn:aws:ecs:{REGION}:123456789012:task/flows/5a1d0b4c7e8f4a2b9c3d6e1f0a9b8c7d"
DEFINITION_ARN = f"arn:aws:ecs:{REGION}:123456789012:task-definition/pushpool-abc:1"


@pytest.fixture
def ecs() -> Any:
    return boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stub(ecs: Any) -> Iterator[Stubber]:
    with Stubber(ecs) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def cache() -> MemoryCache:
    return MemoryCache()


@pytest.fixture
def provider(ecs: Any, cache: MemoryCache, sleeps: list[float]) -> EcsProvider:
    return EcsProvider(ecs, cache=cache, settings=EcsSettings(), sleep=sleeps.append)


@pytest.fixture
def request_(provider: EcsProvider, cache: MemoryCache) -> EcsRequest:
    """A request whose task definition is already registered and cached."""
    request = provider.build_request(ecs_job(prefect_shaped()))
    cache.put_cached(f"ecs:task-definition:{REGION}:{request.task_definition_hash}", DEFINITION_ARN)
    return request


def run_task_params(request: EcsRequest, token: str) -> dict[str, Any]:
    """What RunTask must receive: anything for the planned arguments, exactly this token."""
    params: dict[str, Any] = dict.fromkeys(request.run_task, ANY)
    return {**params, "taskDefinition": DEFINITION_ARN, "clientToken": token}


def started(task_arn: str = TASK_ARN) -> dict[str, Any]:
    return {"tasks": [{"taskArn": task_arn, "clusterArn": CLUSTER_ARN}], "failures": []}


# -- idempotency ---------------------------------------------------------------------------------


def test_a_submit_retried_after_an_ambiguous_failure_reuses_the_client_token(
    provider: EcsProvider, stub: Stubber, request_: EcsRequest
) -> None:
    token = f"{RUN_ID}-1"
    stub.add_client_error(
        "run_task",
        service_error_code="ServerException",
        service_message="Service unavailable, the request may or may not have been processed",
        http_status_code=500,
        expected_params=run_task_params(request_, token),
    )
    stub.add_response("run_task", started(), expected_params=run_task_params(request_, token))

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request_, idempotency_key=f"{RUN_ID}-1")
    assert raised.value.retryable is True

    infra_id = provider.submit(request_, idempotency_key=f"{RUN_ID}-1")
    assert infra_id == f"{CLUSTER_ARN}|{TASK_ARN}"


def test_each_attempt_of_a_run_has_its_own_client_token(
    provider: EcsProvider, stub: Stubber, request_: EcsRequest
) -> None:
    stub.add_response(
        "run_task", started(), expected_params=run_task_params(request_, f"{RUN_ID}-1")
    )
    stub.add_response(
        "run_task", started(), expected_params=run_task_params(request_, f"{RUN_ID}-2")
    )

    provider.submit(request_, idempotency_key=f"{RUN_ID}-1")
    provider.submit(request_, idempotency_key=f"{RUN_ID}-2")


def test_client_tokens_fit_ecs_limits() -> None:
    assert client_token(f"{RUN_ID}-1") == f"{RUN_ID}-1"
    long_key = "x" * 80 + "-1"
    assert len(client_token(long_key)) == 64
    assert client_token(long_key) == client_token(long_key)
    assert client_token(long_key) != client_token("x" * 80 + "-2")
    assert all(33 <= ord(c) <= 126 for c in client_token("run with spaces-1"))


def test_a_token_already_used_finds_the_task_that_token_started(
    provider: EcsProvider, stub: Stubber, request_: EcsRequest
) -> None:
    stub.add_client_error(
        "run_task",
        service_error_code="ConflictException",
        service_message="The provided clientToken is already in use with a different RunTask request.",
        http_status_code=400,
    )
    other = TASK_ARN.replace("5a1d", "ffff")
    stub.add_response(
        "list_tasks",
        {"taskArns": [other, TASK_ARN]},
        expected_params={
            "cluster": "flows",
            "startedBy": f"pushpool/{RUN_ID}",
            "desiredStatus": "RUNNING",
        },
    )
    stub.add_response(
        "describe_tasks",
        {
            "tasks": [
                {"taskArn": other, "clusterArn": CLUSTER_ARN, "group": f"pushpool:{RUN_ID}:0"},
                {"taskArn": TASK_ARN, "clusterArn": CLUSTER_ARN, "group": f"pushpool:{RUN_ID}:1"},
            ],
            "failures": [],
        },
    )

    assert provider.submit(request_, idempotency_key="k") == f"{CLUSTER_ARN}|{TASK_ARN}"


# -- task definitions ----------------------------------------------------------------------------


def test_registration_backs_off_while_throttled(
    provider: EcsProvider, stub: Stubber, sleeps: list[float]
) -> None:
    request = provider.build_request(ecs_job(prefect_shaped()))
    stub.add_client_error(
        "describe_task_definition", "ClientException", "Unable to describe task definition."
    )
    for _ in range(2):
        stub.add_client_error(
            "register_task_definition", "ThrottlingException", "Rate exceeded", 400
        )
    stub.add_response(
        "register_task_definition", {"taskDefinition": {"taskDefinitionArn": DEFINITION_ARN}}
    )

    assert provider.task_definition_arn(request) == DEFINITION_ARN
    assert sleeps == [1.0, 2.0]


def test_registration_gives_up_retryably_when_throttling_persists(
    provider: EcsProvider, stub: Stubber, sleeps: list[float]
) -> None:
    request = provider.build_request(ecs_job(prefect_shaped()))
    stub.add_client_error(
        "describe_task_definition", "ClientException", "Unable to describe task definition."
    )
    for _ in range(5):
        stub.add_client_error(
            "register_task_definition", "ThrottlingException", "Rate exceeded", 400
        )

    with pytest.raises(InfrastructureError) as raised:
        provider.task_definition_arn(request)
    assert raised.value.retryable is True
    assert len(sleeps) == 4


def test_registration_tags_the_definition_with_its_content_hash(
    provider: EcsProvider, stub: Stubber, cache: MemoryCache
) -> None:
    request = provider.build_request(ecs_job(prefect_shaped()))
    assert request.task_definition is not None
    stub.add_client_error(
        "describe_task_definition", "ClientException", "Unable to describe task definition."
    )
    expected = {
        **request.task_definition,
        "tags": [
            {"key": "pushpool.io/task-definition-hash", "value": request.task_definition_hash}
        ],
    }
    stub.add_response(
        "register_task_definition",
        {"taskDefinition": {"taskDefinitionArn": DEFINITION_ARN}},
        expected_params=expected,
    )

    provider.task_definition_arn(request)
    provider.task_definition_arn(request)  # cached: no second call scripted

    assert DEFINITION_ARN in cache.values.values()


def test_a_cached_definition_deregistered_since_is_registered_again(
    provider: EcsProvider, stub: Stubber, request_: EcsRequest, cache: MemoryCache
) -> None:
    new_arn = DEFINITION_ARN.replace(":1", ":2")
    stub.add_client_error(
        "run_task", "InvalidParameterException", "TaskDefinition is inactive", 400
    )
    stub.add_response(
        "describe_task_definition",
        {"taskDefinition": {"taskDefinitionArn": DEFINITION_ARN, "status": "INACTIVE"}, "tags": []},
    )
    stub.add_response(
        "register_task_definition", {"taskDefinition": {"taskDefinitionArn": new_arn}}
    )
    stub.add_response(
        "run_task",
        started(),
        expected_params={**run_task_params(request_, "k"), "taskDefinition": new_arn},
    )

    assert provider.submit(request_, idempotency_key="k") == f"{CLUSTER_ARN}|{TASK_ARN}"
    assert new_arn in cache.values.values()


def test_an_inactive_definition_named_by_the_user_is_terminal(
    provider: EcsProvider, stub: Stubber
) -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:3"
    request = provider.build_request(
        ecs_job(prefect_shaped(task_definition_arn=arn, container_name="app"))
    )
    stub.add_client_error(
        "run_task", "InvalidParameterException", "TaskDefinition is inactive", 400
    )

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request, idempotency_key="k")
    assert raised.value.retryable is False
    assert "INACTIVE" in str(raised.value)


# -- RunTask errors and failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        ("ThrottlingException", "Rate exceeded", 400, True, "throttled"),
        ("ServerException", "Internal error", 500, True, "unavailable"),
        ("ClusterNotFoundException", "Cluster not found.", 400, False, "'flows' does not exist"),
        ("AccessDeniedException", "User is not authorized", 400, False, "iam:PassRole"),
        (
            "InvalidParameterException",
            "Error retrieving subnet information for [subnet-0a1b2c3d]: The subnet ID 'subnet-0a1b2c3d' does not exist",
            400,
            False,
            "network_configuration",
        ),
        (
            "ClientException",
            "No Fargate configuration exists for given values: 3 CPU, 1024 memory.",
            400,
            False,
            "No Fargate configuration",
        ),
        (
            "PlatformUnknownException",
            "The specified platform version does not exist.",
            400,
            False,
            "platform",
        ),
    ],
)
def test_run_task_errors_say_whether_a_retry_can_help(
    provider: EcsProvider,
    stub: Stubber,
    request_: EcsRequest,
    case: tuple[str, str, int, bool, str],
) -> None:
    code, message, status, retryable, fragment = case
    stub.add_client_error("run_task", code, message, status)

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request_, idempotency_key="k")
    assert raised.value.retryable is retryable
    assert fragment in str(raised.value)
    assert isinstance(raised.value.__cause__, Exception)


@pytest.mark.parametrize(
    "case",
    [
        ("RESOURCE:MEMORY", True, "no capacity"),
        ("RESOURCE:ENI", True, "no capacity"),
        (
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            True,
            "no capacity",
        ),
        ("AGENT", True, "cannot take the task"),
        ("MISSING", False, "`cluster`"),
        ("ATTRIBUTE", False, "placementConstraints"),
        ("LOCATION", False, "could not place"),
    ],
)
def test_run_task_failures_say_whether_a_retry_can_help(
    provider: EcsProvider, stub: Stubber, request_: EcsRequest, case: tuple[str, bool, str]
) -> None:
    reason, retryable, fragment = case
    failure = {"arn": CLUSTER_ARN, "reason": reason, "detail": "placement failed"}
    stub.add_response("run_task", {"tasks": [], "failures": [failure]})

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request_, idempotency_key="k")
    assert raised.value.retryable is retryable
    assert fragment in str(raised.value)
    assert reason in str(raised.value)


def test_a_timeout_is_retryable_and_says_the_retry_is_safe() -> None:
    error = translate(ReadTimeoutError(endpoint_url="https://ecs"), action="RunTask")

    assert error.retryable is True
    assert "same clientToken" in str(error)


# -- status and cancel ------------------------------------------------------------------------------


def test_status_during_an_outage_is_a_retryable_error(provider: EcsProvider, stub: Stubber) -> None:
    stub.add_client_error("describe_tasks", "ServerException", "boom", 500)

    with pytest.raises(InfrastructureError) as raised:
        provider.status(f"{CLUSTER_ARN}|{TASK_ARN}")
    assert raised.value.retryable is True


def test_status_of_a_task_in_a_deleted_cluster_is_crashed(
    provider: EcsProvider, stub: Stubber
) -> None:
    stub.add_client_error("describe_tasks", "ClusterNotFoundException", "Cluster not found.", 400)

    status = provider.status(f"{CLUSTER_ARN}|{TASK_ARN}")
    assert status.phase is InfraPhase.CRASHED
    assert "vanished" in status.reason


def test_status_of_a_task_ecs_no_longer_knows_is_crashed(
    provider: EcsProvider, stub: Stubber
) -> None:
    stub.add_response(
        "describe_tasks",
        {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]},
        expected_params={"cluster": CLUSTER_ARN, "tasks": [TASK_ARN]},
    )

    assert provider.status(f"{CLUSTER_ARN}|{TASK_ARN}").phase is InfraPhase.CRASHED


def test_cancel_racing_the_task_end_is_harmless(provider: EcsProvider, stub: Stubber) -> None:
    stub.add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "RUNNING"}], "failures": []},
    )
    stub.add_client_error(
        "stop_task", "InvalidParameterException", "The referenced task was not found.", 400
    )

    provider.cancel(f"{CLUSTER_ARN}|{TASK_ARN}")


def test_cancel_without_permission_is_a_terminal_error(
    provider: EcsProvider, stub: Stubber
) -> None:
    stub.add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "RUNNING"}], "failures": []},
    )
    stub.add_client_error(
        "stop_task", "AccessDeniedException", "not authorized to perform: ecs:StopTask", 400
    )

    with pytest.raises(InfrastructureError) as raised:
        provider.cancel(f"{CLUSTER_ARN}|{TASK_ARN}")
    assert raised.value.retryable is False
    assert "ecs:StopTask" in str(raised.value)
