"""The dispatch function on SQS batches: partial failures, retries with the
same idempotency key, poll and stop messages, misrouted and malformed ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import handlers.dispatch
from core.ports import InfraPhase, Provider, Store
from core.states import StateType, new_state
from handlers.aws.families import Family
from handlers.aws.settings import AwsSettings
from handlers.bootstrap import Settings, bootstrap
from handlers.dispatch import retry_delay
from providers.ecs import EcsProvider
from providers.ecs.provider import MemoryCache
from providers.ecs.request import EcsSettings
from tests.clock import FakeClock
from tests.handlers.support import (
    GCP_QUEUE_URL,
    QUEUE_URL,
    due_run,
    failed_ids,
    install,
    push_pool_with_deployment,
    sqs_event,
)
from tests.integration.support import RecordingProvider, Triggers, Untouchable

REGION = "us-east-1"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:123456789012:cluster/flows"
TASK_ARN = f"arn:aws:ecs:{REGION}:123456789012:task/flows/5a1d0b4c7e8f4a2b9c3d6e1f0a9b8c7d"
DEFINITION_ARN = f"arn:aws:ecs:{REGION}:123456789012:task-definition/flows:7"
ECS_VARIABLES = {
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:1",
    "cluster": "flows",
    "task_definition_arn": DEFINITION_ARN,
    "container_name": "flow",
    "network_configuration": {
        "awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d"], "securityGroups": ["sg-0f00ba47"]}
    },
}


@pytest.fixture
def triggers() -> Triggers:
    return Triggers()


def cold_start(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    clock: FakeClock,
    providers: dict[str, Provider],
    *,
    trigger: Triggers | None = None,
    queues: dict[Family, str] | None = None,
) -> None:
    settings = Settings(
        store_url="sqlite://",
        api_url="https://abc123.execute-api.us-east-1.amazonaws.com/api",
        run_token_key=b"k" * 32,
        aws=AwsSettings(queues=queues or {}),
    )
    container = bootstrap(
        store=store, clock=clock, providers=providers, trigger=trigger, settings=settings
    )
    install(monkeypatch, container)


# -- idempotency: the dispatch path resubmits with the same clientToken -------------------------


@pytest.fixture
def ecs() -> Iterator[tuple[Any, Stubber, list[str]]]:
    client = boto3.client(
        "ecs", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    tokens: list[str] = []
    client.meta.events.register(
        "provide-client-params.ecs.RunTask",
        lambda params, **_: tokens.append(params["clientToken"]),
    )
    with Stubber(client) as stub:
        yield client, stub, tokens
        stub.assert_no_pending_responses()


def test_a_submit_retried_after_an_ambiguous_failure_reuses_its_client_token(
    monkeypatch, store, clock, triggers, ecs
):
    client, stub, tokens = ecs
    provider = EcsProvider(client, cache=MemoryCache(), settings=EcsSettings(region=REGION))
    cold_start(monkeypatch, store, clock, {"ecs:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(
        store, "ecs:push", name="flows-on-ecs", job_variables=ECS_VARIABLES
    )
    run = due_run(store, deployment)
    message = {"pool": "flows-on-ecs", "kind": "dispatch"}
    # ECS may or may not have started the task before answering 500.
    stub.add_client_error(
        "run_task",
        service_error_code="ServerException",
        service_message="Service unavailable, the request may or may not have been processed",
        http_status_code=500,
    )
    stub.add_response(
        "run_task", {"tasks": [{"taskArn": TASK_ARN, "clusterArn": CLUSTER_ARN}], "failures": []}
    )

    first = handlers.dispatch.handler(sqs_event(message, receive_count=1), None)
    clock.advance(seconds=31)  # SQS redelivers after the back-off; the claim is now resumable
    second = handlers.dispatch.handler(sqs_event(message, receive_count=2), None)

    assert failed_ids(first) == ["message-0"]
    assert failed_ids(second) == []
    assert tokens == [f"{run.id}-1", f"{run.id}-1"]
    stored = store.get_run(run.id)
    assert (stored.state.type, stored.attempt) == (StateType.PENDING, 1)
    assert stored.infrastructure_pid == f"{CLUSTER_ARN}|{TASK_ARN}"


def test_retries_back_off_from_30_seconds_to_4_minutes():
    assert [retry_delay(n) for n in range(1, 7)] == [30, 60, 120, 240, 240, 240]


# -- batches ---------------------------------------------------------------------------------


def test_only_the_failing_message_of_a_batch_is_reported(monkeypatch, store, clock, triggers):
    provider = RecordingProvider()
    cold_start(
        monkeypatch, store, clock, {"ecs:push": provider, "managed": provider}, trigger=triggers
    )
    failing = push_pool_with_deployment(store, "ecs:push", name="failing", job_variables={})
    healthy = push_pool_with_deployment(store, "managed", name="healthy", job_variables={})
    stuck, fine = due_run(store, failing), due_run(store, healthy)
    provider.fail(stuck.id, retryable=True)

    response = handlers.dispatch.handler(
        sqs_event({"pool": "failing"}, {"pool": "healthy"}, {"pool": "healthy"}), None
    )

    assert failed_ids(response) == ["message-0"]
    assert store.get_run(fine.id).infrastructure_pid == f"infra-{fine.id}-1"
    assert provider.submit_calls[f"{fine.id}-1"] == 1  # the duplicate was handled once


def test_a_malformed_message_is_dropped_not_retried(monkeypatch, store, clock, triggers):
    cold_start(monkeypatch, store, clock, {}, trigger=triggers)
    event = sqs_event({"kind": "dispatch"})  # names no pool

    assert failed_ids(handlers.dispatch.handler(event, None)) == []


def test_a_pass_that_freed_slots_asks_for_another(monkeypatch, store, clock, triggers):
    provider = RecordingProvider()
    cold_start(monkeypatch, store, clock, {"ecs:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(store, "ecs:push", name="p", job_variables={})
    run = due_run(store, deployment)
    provider.fail(run.id, retryable=False)

    handlers.dispatch.handler(sqs_event({"pool": "p"}), None)

    assert store.get_run(run.id).state.type is StateType.CRASHED
    assert triggers.requests == [("p", None)]


# -- poll and stop messages -------------------------------------------------------------------


def test_a_poll_message_applies_what_the_provider_says_and_refills_freed_slots(
    monkeypatch, store, clock, triggers
):
    provider = RecordingProvider()  # emits no events, like Cloud Run
    cold_start(monkeypatch, store, clock, {"cloud-run-v2:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(store, "cloud-run-v2:push", name="gcp", job_variables={})
    run = due_run(store, deployment)
    handlers.dispatch.handler(sqs_event({"pool": "gcp"}), None)
    provider.finish(f"infra-{run.id}-1", exit_code=0)
    triggers.requests.clear()

    handlers.dispatch.handler(sqs_event({"pool": "gcp", "kind": "poll"}), None)

    assert store.get_run(run.id).state.type is StateType.COMPLETED
    assert triggers.requests == [("gcp", None)]


def test_a_stop_message_stops_that_infrastructure(monkeypatch, store, clock, triggers):
    provider = RecordingProvider()
    cold_start(monkeypatch, store, clock, {"ecs:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(store, "ecs:push", name="p", job_variables={})
    run = due_run(store, deployment)
    handlers.dispatch.handler(sqs_event({"pool": "p"}), None)

    stop = {"pool": "p", "kind": "stop", "infra_id": f"infra-{run.id}-1"}
    handlers.dispatch.handler(sqs_event(stop), None)

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert provider.infras[f"infra-{run.id}-1"].phase is InfraPhase.CANCELLED


def test_a_message_for_another_familys_pool_is_left_to_the_tick(monkeypatch, store, clock):
    queues = {Family.AWS: QUEUE_URL, Family.GCP: GCP_QUEUE_URL}
    cold_start(monkeypatch, store, clock, {"cloud-run-v2:push": Untouchable()}, queues=queues)
    deployment = push_pool_with_deployment(store, "cloud-run-v2:push", name="gcp", job_variables={})
    run = due_run(store, deployment)

    response = handlers.dispatch.handler(sqs_event({"pool": "gcp"}), None)  # on the ECS queue

    assert failed_ids(response) == []
    assert store.get_run(run.id).state.type is StateType.SCHEDULED


def test_only_passes_asked_to_look_after_active_runs_stop_cancelled_infrastructure(
    monkeypatch, store, clock, triggers
):
    provider = RecordingProvider()  # no events: the stop is confirmed by a poll at once
    cold_start(monkeypatch, store, clock, {"ecs:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(store, "ecs:push", name="p", job_variables={})
    run = due_run(store, deployment)
    handlers.dispatch.handler(sqs_event({"pool": "p"}), None)
    store.record_state(store.get_run(run.id), new_state(StateType.CANCELLING, at=clock()))

    handlers.dispatch.handler(sqs_event({"pool": "p"}), None)  # a run due, a slot freed...
    assert provider.cancelled == []

    handlers.dispatch.handler(
        sqs_event({"pool": "p", "look_after": True}), None
    )  # the API's cancel
    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert store.get_run(run.id).state.type is StateType.CANCELLED


def test_a_poll_message_looks_after_active_runs_as_the_local_observe_loop_does(
    monkeypatch, store, clock, triggers
):
    """Both drive the lifecycle's observe request: cancelled runs are stopped
    first, and the slot their confirmed stop frees is refilled."""
    provider = RecordingProvider()  # no events: the stop is confirmed by a poll at once
    cold_start(monkeypatch, store, clock, {"ecs:push": provider}, trigger=triggers)
    deployment = push_pool_with_deployment(store, "ecs:push", name="p", job_variables={})
    run = due_run(store, deployment)
    handlers.dispatch.handler(sqs_event({"pool": "p"}), None)
    store.record_state(store.get_run(run.id), new_state(StateType.CANCELLING, at=clock()))
    triggers.requests.clear()

    handlers.dispatch.handler(sqs_event({"pool": "p", "kind": "poll"}), None)

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert store.get_run(run.id).state.type is StateType.CANCELLED
    assert triggers.requests == [("p", None)]
