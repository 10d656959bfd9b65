"""The tick function: messages for what is due, and — since it holds no cloud
SDK — poll and stop requests for the dispatch functions instead of provider
calls of its own."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import handlers.tick
from core.ports import Store
from core.states import StateType, new_state
from handlers.aws.families import Family
from handlers.aws.settings import AwsSettings
from handlers.bootstrap import Settings, bootstrap
from tests.clock import FakeClock
from tests.contract.builders import LEASE, NOW
from tests.handlers.support import due_run, install, push_pool_with_deployment, sample
from tests.integration.support import RecordingProvider, Untouchable

REGION = "us-east-1"


@pytest.fixture
def queues(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> dict[Family, str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return {
        family: sqs.create_queue(QueueName=f"dispatch-{family.value}")["QueueUrl"]
        for family in (Family.AWS, Family.GCP)
    }


def cold_start(monkeypatch, store, clock, providers, queues=None) -> None:
    settings = Settings(store_url="sqlite://", aws=AwsSettings(queues=queues or {}))
    container = bootstrap(store=store, clock=clock, providers=providers, settings=settings)
    install(monkeypatch, container)


def submit(store: Store, run_id: str, infra_id: str, clock: FakeClock) -> None:
    run = store.get_run(run_id)
    run = store.claim(
        run, state=new_state(StateType.PENDING, at=clock()), lease_expires=clock() + LEASE
    )
    store.mark_submitted(run, infrastructure_pid=infra_id, at=clock())


def messages(sqs: Any, queue: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages") or []
    return [json.loads(m["Body"]) for m in got]


def delayed(sqs: Any, queue: str) -> int:
    name = "ApproximateNumberOfMessagesDelayed"
    return int(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[name])["Attributes"][name])


def test_due_pools_get_a_dispatch_now_and_runs_due_before_the_next_tick_a_delayed_one(
    monkeypatch, store, clock, sqs, queues
):
    cold_start(monkeypatch, store, clock, {"ecs:push": Untouchable()}, queues)
    deployment = push_pool_with_deployment(store, "ecs:push", name="on-ecs", job_variables={})
    due_run(store, deployment)
    due_run(store, deployment, when=NOW + timedelta(seconds=20))

    summary = handlers.tick.handler(sample("scheduler_tick.json"), None)

    assert messages(sqs, queues[Family.AWS]) == [{"pool": "on-ecs", "kind": "dispatch"}]
    assert delayed(sqs, queues[Family.AWS]) == 1
    assert summary["messages_sent"] == 2


def test_submitted_runs_are_polled_by_their_familys_dispatch_function_not_by_the_tick(
    monkeypatch, store, clock, sqs, queues
):
    cold_start(monkeypatch, store, clock, {"cloud-run-v2:push": Untouchable()}, queues)
    deployment = push_pool_with_deployment(store, "cloud-run-v2:push", name="gcp", job_variables={})
    run = due_run(store, deployment)
    submit(store, run.id, "projects/p/locations/l/jobs/j/executions/e", clock)

    handlers.tick.handler(sample("scheduler_tick.json"), None)

    assert messages(sqs, queues[Family.GCP]) == [{"pool": "gcp", "kind": "poll"}]
    assert messages(sqs, queues[Family.AWS]) == []


def test_infrastructure_that_never_started_is_stopped_by_the_dispatch_function(
    monkeypatch, store, clock, sqs, queues
):
    cold_start(monkeypatch, store, clock, {"ecs:push": Untouchable()}, queues)
    deployment = push_pool_with_deployment(store, "ecs:push", name="on-ecs", job_variables={})
    run = due_run(store, deployment)
    submit(store, run.id, "cluster-arn|task-arn", clock)
    clock.advance(minutes=11)  # past the default 10-minute start timeout

    handlers.tick.handler(sample("scheduler_tick.json"), None)

    assert store.get_run(run.id).state.type is StateType.CRASHED
    assert {"pool": "on-ecs", "kind": "stop", "infra_id": "cluster-arn|task-arn"} in messages(
        sqs, queues[Family.AWS]
    )


def test_without_dispatch_queues_the_tick_polls_the_providers_itself(monkeypatch, store, clock):
    provider = RecordingProvider()
    cold_start(monkeypatch, store, clock, {"cloud-run-v2:push": provider})
    deployment = push_pool_with_deployment(store, "cloud-run-v2:push", name="gcp", job_variables={})
    run = due_run(store, deployment)
    infra = provider.submit(
        {"run_id": run.id, "attempt": 1, "config": {}}, idempotency_key=f"{run.id}-1"
    )
    submit(store, run.id, infra, clock)
    provider.finish(infra, exit_code=0)

    summary = handlers.tick.handler(sample("scheduler_tick.json"), None)

    assert summary["polled"] == 1
    assert store.get_run(run.id).state.type is StateType.COMPLETED
