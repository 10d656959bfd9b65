"""An ECS run's output, read from its task's ``awslogs`` stream on moto's CloudWatch Logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from core.errors import InfrastructureError
from core.ports import log_source
from providers.ecs import make_provider
from providers.ecs.ids import parse_infra_id
from providers.ecs.provider import MemoryCache
from providers.ecs.taskdef import DEFAULT_LOG_GROUP, DEFAULT_STREAM_PREFIX
from tests.fakes.moto_ecs import REGION, moto_ecs
from tests.providers.ecs_jobs import RUN_ID, ecs_job, prefect_shaped


@pytest.fixture
def clients() -> Iterator[dict[str, Any]]:
    with moto_ecs():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="flows")
        yield {
            "ecs": ecs,
            "ec2": boto3.client("ec2", region_name=REGION),
            "logs": boto3.client("logs", region_name=REGION),
        }


def started(clients: dict[str, Any], **variables: Any) -> tuple[Any, str]:
    provider = make_provider(
        ecs_client=clients["ecs"],
        ec2_client=clients["ec2"],
        logs_client=clients["logs"],
        cache=MemoryCache(),
    )
    variables.setdefault("network_configuration", None)  # moto's default VPC
    job = ecs_job(prefect_shaped(RUN_ID, **variables), run_id=RUN_ID, attempt=1)
    infra_id = provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)
    return provider, infra_id


def awslogs_stream(ecs: Any, infra_id: str) -> str:
    """The stream the awslogs driver names: ``<prefix>/<container>/<task id>``."""
    cluster, task_arn = parse_infra_id(infra_id)
    task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    container = definition["taskDefinition"]["containerDefinitions"][0]["name"]
    return f"{DEFAULT_STREAM_PREFIX}/{container}/{task_arn.rsplit('/', 1)[-1]}"


# CloudWatch refuses events older than 14 days: stamp them a minute ago.
NOW_MS = (int(time.time()) - 60) * 1000


def write(logs: Any, stream: str, *messages: str, at: int = NOW_MS) -> None:
    events = [{"timestamp": at + i, "message": m} for i, m in enumerate(messages)]
    response = logs.put_log_events(
        logGroupName=DEFAULT_LOG_GROUP, logStreamName=stream, logEvents=events
    )
    assert "rejectedLogEventsInfo" not in response


def test_a_tasks_awslogs_stream_is_found_from_the_run_and_read_on_with_its_cursor(clients):
    provider, infra_id = started(clients, configure_cloudwatch_logs=True)
    source = log_source(provider)
    assert source is not None

    assert source.read_logs(infra_id).lines == ()  # no stream yet: the task has not printed
    stream = awslogs_stream(clients["ecs"], infra_id)
    clients["logs"].create_log_group(logGroupName=DEFAULT_LOG_GROUP)
    clients["logs"].create_log_stream(logGroupName=DEFAULT_LOG_GROUP, logStreamName=stream)
    write(clients["logs"], stream, "starting", "ünïcode ☃")

    first = source.read_logs(infra_id)
    assert [line.message for line in first.lines] == ["starting", "ünïcode ☃"]
    assert first.lines[0].timestamp.timestamp() == NOW_MS / 1000
    write(clients["logs"], stream, "done", at=NOW_MS + 1000)
    more = source.read_logs(infra_id, after=first.cursor)
    assert [line.message for line in more.lines] == ["done"]
    assert source.read_logs(infra_id, after=more.cursor).lines == ()


def test_left_unset_a_task_with_an_execution_role_logs_and_is_read(clients):
    provider, infra_id = started(clients, configure_cloudwatch_logs=None)
    stream = awslogs_stream(clients["ecs"], infra_id)
    # the provider created the group: the execution role need not (no awslogs-create-group)
    groups = clients["logs"].describe_log_groups(logGroupNamePrefix=DEFAULT_LOG_GROUP)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [DEFAULT_LOG_GROUP]
    clients["logs"].create_log_stream(logGroupName=DEFAULT_LOG_GROUP, logStreamName=stream)
    write(clients["logs"], stream, "hello from the default template")
    assert [line.message for line in provider.read_logs(infra_id).lines] == [
        "hello from the default template"
    ]


def test_left_unset_a_task_without_an_execution_role_runs_without_logs(clients):
    provider, infra_id = started(clients, configure_cloudwatch_logs=None, execution_role_arn=None)
    cluster, task_arn = parse_infra_id(infra_id)
    task = clients["ecs"].describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    definition = clients["ecs"].describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    assert "logConfiguration" not in definition["taskDefinition"]["containerDefinitions"][0]
    assert provider.read_logs(infra_id).lines == ()


def test_the_group_is_created_once_per_definition_and_an_existing_one_is_fine(clients):
    clients["logs"].create_log_group(logGroupName=DEFAULT_LOG_GROUP)
    calls: list[str] = []
    clients["logs"].meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    provider, _ = started(clients, configure_cloudwatch_logs=None)
    job = ecs_job(
        prefect_shaped("another-run", configure_cloudwatch_logs=None, network_configuration=None),
        run_id="another-run",
        attempt=1,
    )
    provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)
    assert calls.count("CreateLogGroup") == 1


def test_a_group_pushpool_may_not_create_is_one_terminal_error_and_no_task(clients):
    from botocore.stub import Stubber

    denied = boto3.client("logs", region_name=REGION)
    stubber = Stubber(denied)
    stubber.add_client_error(
        "create_log_group",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: logs:CreateLogGroup",
        http_status_code=400,
    )
    provider = make_provider(
        ecs_client=clients["ecs"], ec2_client=clients["ec2"], logs_client=denied
    )
    job = ecs_job(
        prefect_shaped(RUN_ID, configure_cloudwatch_logs=None, network_configuration=None),
        run_id=RUN_ID,
        attempt=1,
    )
    with stubber, pytest.raises(InfrastructureError) as caught:
        provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)
    assert not caught.value.retryable
    assert "logs:CreateLogGroup" in caught.value.detail
    assert "configure_cloudwatch_logs" in caught.value.detail
    assert clients["ecs"].list_tasks(cluster="flows")["taskArns"] == []


def test_a_task_without_cloudwatch_logs_has_no_lines(clients):
    provider, infra_id = started(clients, configure_cloudwatch_logs=False)
    assert provider.read_logs(infra_id).lines == ()


def test_where_a_task_logs_is_looked_up_once(clients):
    provider, infra_id = started(clients, configure_cloudwatch_logs=True)
    calls: list[str] = []
    clients["ecs"].meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    for _ in range(3):
        provider.read_logs(infra_id)
    assert calls.count("DescribeTaskDefinition") == 1


def test_missing_credentials_are_one_terminal_error_naming_the_call(clients, monkeypatch):
    provider, infra_id = started(clients, configure_cloudwatch_logs=True)
    provider.read_logs(infra_id)  # where it logs is cached now
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    bare = boto3.session.Session(region_name=REGION).client("logs")
    provider._logs_client = bare
    with pytest.raises(InfrastructureError) as caught:
        provider.read_logs(infra_id)
    assert not caught.value.retryable and "GetLogEvents" in caught.value.detail
