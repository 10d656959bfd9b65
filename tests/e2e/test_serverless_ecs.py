"""The serverless push path end to end, on moto (issue 5, "Must be shown").

DynamoDB, SQS, Secrets Manager and ECS are moto's; the functions are the
real Lambda handlers, invoked with the payloads AWS sends them (API Gateway
HTTP API v2, EventBridge Scheduler, SQS batches, EventBridge "ECS Task State
Change"), see ``tests/e2e/aws_stack.py``.  No worker exists anywhere: the API
and the events send dispatch messages, the dispatch function admits runs
under the pool's limit and calls RunTask, and ECS events finish the runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import handlers.api
from core.models import FlowRun
from core.ports import Store
from core.states import TERMINAL, StateType
from tests.e2e.aws_stack import CLUSTER, Stack, deployed_stack, sample

# A Monday morning in March: Berlin is UTC+1, so the cron's 09:xx are 08:xx UTC.
T0 = datetime(2026, 3, 2, 7, 58, 30, tzinfo=UTC)
POOL = "flows-on-ecs"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2026.03"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with deployed_stack(monkeypatch, now=T0) as deployed:
        yield deployed


# -- helpers: what a user does through the API, and what ECS does ---------------------------


def create_pool(stack: Stack, name: str, pool_type: str, *, limit: int) -> None:
    stack.api(
        "POST", "/api/work_pools/", {"name": name, "type": pool_type, "concurrency_limit": limit}
    )


def deploy(stack: Stack, pool: str, **fields: Any) -> str:
    flow = stack.api("POST", "/api/flows/", {"name": "etl"})
    body = {"name": "quarter-hourly", "flow_id": flow["id"], "work_pool_name": pool, **fields}
    deployment: dict[str, Any] = stack.api("POST", "/api/deployments/", body)
    return str(deployment["id"])


def run_now(stack: Stack, deployment_id: str, **fields: Any) -> str:
    run = stack.api("POST", f"/api/deployments/{deployment_id}/create_flow_run", fields)
    return str(run["id"])


def store(stack: Stack) -> Store:
    return stack.container.store


def runs_of(stack: Stack, pool: str) -> list[FlowRun]:
    pool_id = store(stack).get_pool(pool).id
    return sorted(
        store(stack).list_runs(pool_id=pool_id), key=lambda r: r.next_scheduled_start_time
    )


def task_of(stack: Stack, run_id: str) -> str:
    infra_id = store(stack).get_run(run_id).infrastructure_pid
    assert infra_id is not None, f"run {run_id} has no task"
    return infra_id


def start(stack: Stack, run_id: str) -> None:
    infra_id = task_of(stack, run_id)
    stack.ecs.start(infra_id.split("|")[1])
    stack.ecs_event(infra_id, version=2)


def finish(stack: Stack, run_id: str, code: int = 0) -> dict[str, Any]:
    infra_id = task_of(stack, run_id)
    stack.ecs.exit(infra_id.split("|")[1], code)
    return stack.ecs_event(infra_id, version=3)


def submitted_runs(stack: Stack) -> list[str]:
    return [call.run_id for call in stack.run_task_calls if not call.failed]


def observable(stack: Stack, pool: str) -> tuple[Any, ...]:
    """Everything a redelivered message or a duplicated event could change."""
    runs = tuple(
        (r.id, r.state.type, r.state.name, r.version, r.infrastructure_pid)
        for r in runs_of(stack, pool)
    )
    counters = store(stack).counters(store(stack).get_pool(pool).id)
    return runs, counters, len(stack.run_task_calls), len(stack.ecs.started)


def assert_all_finished(stack: Stack, pool: str) -> None:
    assert all(r.state.type in TERMINAL for r in runs_of(stack, pool))
    counters = store(stack).counters(store(stack).get_pool(pool).id)
    assert counters.pool_active == 0
    assert set(counters.queue_active.values()) <= {0}
    assert store(stack).repair_counters(store(stack).get_pool(pool).id) == []


# -- the scenario ------------------------------------------------------------------------------


def test_an_ecs_push_pool_runs_everything_in_waterfall_order_within_its_limit(stack: Stack):
    create_pool(stack, POOL, "ecs:push", limit=2)
    stack.api("POST", f"/api/work_pools/{POOL}/queues", {"name": "critical", "priority": 1})
    schedule = {"cron": "*/15 9 * * *", "timezone": "Europe/Berlin"}
    deployment = deploy(
        stack,
        POOL,
        work_queue_name="default",
        job_variables={"image": IMAGE, "cluster": CLUSTER},
        command="python -m flows.etl",
        schedules=[{"schedule": schedule}],
    )

    # The tick materialises the cron's four runs (09:00-09:45 Berlin); none is due yet.
    assert stack.tick()["created"] == 4
    assert stack.drain() == 0
    cron_runs = [r.id for r in runs_of(stack, POOL)]
    assert [r.next_scheduled_start_time.strftime("%H:%M") for r in runs_of(stack, POOL)] == [
        "08:00",
        "08:15",
        "08:30",
        "08:45",
    ]

    # An hour later they are late, and two urgent runs are created now in the critical queue.
    stack.clock.set(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC))
    urgent = sorted(run_now(stack, deployment, work_queue_name="critical") for _ in range(2))
    due = [r for r in runs_of(stack, POOL) if r.next_scheduled_start_time <= stack.clock()]
    assert len(due) == 6

    # A tick, then dispatch: exactly two RunTask calls, priority before lateness.
    stack.tick()
    stack.drain()
    assert submitted_runs(stack) == urgent
    assert {store(stack).get_run(r).state.type for r in urgent} == {StateType.PENDING}

    # The tasks start and stop; each STOPPED event admits the next run, without a tick.
    for run_id in urgent:
        start(stack, run_id)
    assert {store(stack).get_run(r).state.type for r in urgent} == {StateType.RUNNING}
    assert finish(stack, urgent[0], code=0)["released_slot"] is True
    assert finish(stack, urgent[1], code=1)["released_slot"] is True
    stack.drain()
    assert submitted_runs(stack) == [*urgent, *cron_runs[:2]]
    assert store(stack).get_run(urgent[0]).state.type is StateType.COMPLETED
    failed = store(stack).get_run(urgent[1]).state
    assert failed.type is StateType.FAILED
    assert failed.message.startswith("Infrastructure exited with code 1")

    # A redelivered dispatch message and a duplicated event change nothing.
    before = observable(stack, POOL)
    stack.send_raw(json.dumps({"pool": POOL, "kind": "dispatch"}))
    stack.drain()
    assert stack.ecs_event(task_of(stack, urgent[0]), version=3)["applied"] is False
    stack.drain()
    assert observable(stack, POOL) == before

    # A retryable RunTask failure keeps the claim; the message's retry resubmits
    # it with the same client token once it is old enough to resume.
    stack.fail_next_run_task("RESOURCE:MEMORY")
    for run_id in cron_runs[:2]:
        start(stack, run_id)
        finish(stack, run_id)
    stack.drain()
    assert stack.batch_responses[-1]["batchItemFailures"]
    retried = store(stack).get_run(cron_runs[2])
    assert (retried.state.type, retried.infrastructure_pid) == (StateType.PENDING, None)
    assert store(stack).get_run(cron_runs[3]).infrastructure_pid is not None
    stack.clock.advance(seconds=31)
    stack.redeliver()
    stack.drain()
    calls = [c for c in stack.run_task_calls if c.run_id == cron_runs[2]]
    assert [c.failed for c in calls] == [True, False]
    assert calls[0].client_token == calls[1].client_token == f"{cron_runs[2]}-1"

    # A terminal failure crashes its run at once with ECS's reason.
    doomed = run_now(
        stack, deployment, work_queue_name="critical", job_variables={"cluster": "no-such-cluster"}
    )
    stack.drain()  # both slots are taken: it waits
    assert store(stack).get_run(doomed).state.type is StateType.SCHEDULED
    for run_id in cron_runs[2:]:
        start(stack, run_id)
        finish(stack, run_id)
    stack.drain()
    crashed = store(stack).get_run(doomed).state
    assert crashed.type is StateType.CRASHED
    assert "no-such-cluster" in crashed.message and "does not exist" in crashed.message

    # Every run ended, exactly one task each, and every counter is back at 0.
    assert_all_finished(stack, POOL)
    assert len(stack.ecs.started) == len(set(submitted_runs(stack))) == 6
    assert stack.queue_depth() == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 0,
    }


def test_cancelling_a_running_flow_run_stops_its_task_and_frees_its_slot(stack: Stack):
    create_pool(stack, POOL, "ecs:push", limit=1)
    deployment = deploy(stack, POOL, job_variables={"image": IMAGE, "cluster": CLUSTER})
    running = run_now(stack, deployment)
    stack.clock.advance(seconds=1)
    waiting = run_now(stack, deployment)
    stack.drain()
    start(stack, running)
    assert store(stack).get_run(waiting).state.type is StateType.SCHEDULED

    body = {"state": {"type": "CANCELLING", "message": "Cancelled on request."}}
    stack.api("POST", f"/api/flow_runs/{running}/set_state", body)
    assert store(stack).get_run(running).state.type is StateType.CANCELLING
    stack.drain()  # the API's message: the dispatch function stops the task

    cluster, task_arn = task_of(stack, running).split("|")
    task = stack.ecs_client.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    assert (task["lastStatus"], task["stopCode"]) == ("STOPPED", "UserInitiated")
    assert stack.ecs_event(task_of(stack, running), version=3)["state"] == "CANCELLED"
    stack.drain()  # the freed slot admits the waiting run

    assert submitted_runs(stack) == [running, waiting]
    finish(stack, waiting)
    assert_all_finished(stack, POOL)


def test_a_managed_pool_runs_on_the_stacks_cluster_network_and_roles(stack: Stack):
    create_pool(stack, "managed", "managed", limit=5)
    deployment = deploy(
        stack,
        "managed",
        job_variables={"image": IMAGE, "cpu": 512, "memory": 1024, "env": {"STAGE": "prod"}},
        command="python -m flows.etl",
    )
    run_id = run_now(stack, deployment)
    stack.drain()

    (call,) = stack.run_task_calls
    assert (call.run_id, call.cluster, call.launch_type) == (
        run_id,
        stack.managed_cluster_arn,
        "FARGATE",
    )
    awsvpc = (call.network or {})["awsvpcConfiguration"]
    environment = stack.container.settings.aws.managed
    assert tuple(awsvpc["subnets"]) == environment.subnets
    assert tuple(awsvpc["securityGroups"]) == environment.security_groups
    cluster, task_arn = task_of(stack, run_id).split("|")
    task = stack.ecs_client.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    definition = stack.ecs_client.describe_task_definition(
        taskDefinition=task["taskDefinitionArn"]
    )["taskDefinition"]
    assert definition["executionRoleArn"] == environment.execution_role_arn
    (container,) = definition["containerDefinitions"]
    assert container["image"] == IMAGE
    log_options = container["logConfiguration"]["options"]
    assert log_options["awslogs-group"] == environment.log_group
    flow_env = {
        e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]
    }
    assert flow_env["STAGE"] == "prod"
    assert flow_env["PUSHPOOL_FLOW_RUN_ID"] == run_id
    assert flow_env["PUSHPOOL_RUN_TOKEN"].startswith(f"ppr_{run_id}.")

    start(stack, run_id)
    finish(stack, run_id)
    assert store(stack).get_run(run_id).state.type is StateType.COMPLETED
    assert_all_finished(stack, "managed")


def test_the_run_token_handed_to_a_task_lets_it_report_its_own_state(stack: Stack):
    """The dispatch function signs with the key the API verifies (one secret)."""
    create_pool(stack, POOL, "ecs:push", limit=1)
    deployment = deploy(stack, POOL, job_variables={"image": IMAGE, "cluster": CLUSTER})
    run_id = run_now(stack, deployment)
    stack.drain()
    cluster, task_arn = task_of(stack, run_id).split("|")
    task = stack.ecs_client.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    env = {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}
    assert env["PUSHPOOL_API_URL"] == stack.container.settings.api_url

    answer = run_token_request(stack, run_id, env["PUSHPOOL_RUN_TOKEN"])
    assert answer["statusCode"] == 201, answer["body"]
    assert store(stack).get_run(run_id).state.type is StateType.RUNNING


def run_token_request(stack: Stack, run_id: str, token: str) -> dict[str, Any]:

    event = sample("api_gateway_http_request.json")
    path = f"/api/flow_runs/{run_id}/set_state"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["headers"]["authorization"] = f"Bearer {token}"
    event["body"] = json.dumps({"state": {"type": "RUNNING"}})
    answer: dict[str, Any] = handlers.api.handler(event, None)
    return answer


def test_a_run_whose_submission_keeps_failing_crashes_on_the_last_delivery(stack: Stack):
    create_pool(stack, POOL, "ecs:push", limit=1)
    deployment = deploy(stack, POOL, job_variables={"image": IMAGE, "cluster": CLUSTER})
    run_id = run_now(stack, deployment)
    deliveries = stack.container.settings.aws.max_receive_count
    for _ in range(deliveries):
        stack.fail_next_run_task("RESOURCE:CPU")

    stack.drain()
    for _ in range(deliveries - 1):
        assert store(stack).get_run(run_id).state.type is StateType.PENDING
        stack.clock.advance(seconds=31)
        stack.redeliver()
        stack.drain()

    tokens = {c.client_token for c in stack.run_task_calls}
    assert len(stack.run_task_calls) == deliveries and tokens == {f"{run_id}-1"}
    crashed = store(stack).get_run(run_id).state
    assert crashed.type is StateType.CRASHED
    assert crashed.message.startswith("Submission kept failing: no capacity")
    assert_all_finished(stack, POOL)
