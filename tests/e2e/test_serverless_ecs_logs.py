"""An ECS push run's output through the deployed stack's API, read from the
task's ``awslogs`` stream in moto's CloudWatch Logs (no worker anywhere)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.e2e.aws_stack import CLUSTER, Stack, deployed_stack
from tests.e2e.test_serverless_ecs import IMAGE, create_pool, deploy, finish, run_now, start
from tests.fakes.moto_ecs import REGION
from tests.providers.test_ecs_logs import awslogs_stream

T0 = datetime(2026, 3, 2, 7, 58, 30, tzinfo=UTC)
POOL = "flows-on-ecs"
ROLE = "arn:aws:iam::123456789012:role/pushpool-execution"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with deployed_stack(monkeypatch, now=T0) as deployed:
        yield deployed


def logs_of(stack: Stack, run_id: str, **body: Any) -> list[dict[str, Any]]:
    where = {"logs": {"flow_run_id": {"any_": [run_id]}}, **body}
    found: list[dict[str, Any]] = stack.api("POST", "/api/logs/filter", where)
    return found


def test_an_ecs_push_runs_cloudwatch_output_is_read_through_the_api_while_and_after_it_runs(
    stack: Stack,
):
    create_pool(stack, POOL, "ecs:push", limit=2)
    variables = {
        "image": IMAGE, "cluster": CLUSTER, "configure_cloudwatch_logs": True,
        "execution_role_arn": ROLE,
    }  # fmt: skip
    run_id = run_now(stack, deploy(stack, POOL, job_variables=variables))
    stack.drain()
    infra_id = stack.container.store.get_run(run_id).infrastructure_pid
    assert infra_id is not None
    assert logs_of(stack, run_id) == []  # submitted, nothing printed yet

    start(stack, run_id)
    cloudwatch = boto3.client("logs", region_name=REGION)
    stream = awslogs_stream(boto3.client("ecs", region_name=REGION), infra_id)
    cloudwatch.create_log_group(logGroupName="pushpool")
    cloudwatch.create_log_stream(logGroupName="pushpool", logStreamName=stream)
    now_ms = (int(time.time()) - 60) * 1000

    def put(*messages: str, at: int) -> None:
        events = [{"timestamp": at + i, "message": m} for i, m in enumerate(messages)]
        cloudwatch.put_log_events(logGroupName="pushpool", logStreamName=stream, logEvents=events)

    put("extract: 12 files", "transform: ok", at=now_ms)
    running = logs_of(stack, run_id)
    assert [line["message"] for line in running] == ["extract: 12 files", "transform: ok"]

    put("load: done", at=now_ms + 1000)
    finish(stack, run_id, 0)
    after = logs_of(stack, run_id, after_key=running[-1]["key"])
    assert [line["message"] for line in after] == ["load: done"]
    # Reading again copies nothing twice; a tail reads the store.
    assert len(logs_of(stack, run_id)) == 3
    tail = logs_of(stack, run_id, sort="TIMESTAMP_DESC", limit=1)
    assert [line["message"] for line in tail] == ["load: done"]
