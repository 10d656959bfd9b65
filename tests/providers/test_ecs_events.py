"""EventBridge "ECS Task State Change" events -> (run, attempt, InfraStatus).

The samples in ``tests/events/ecs_task_*.json`` follow the shape AWS documents
for these events; the last tests feed tasks started through moto, wrapped as
events, to prove the event path and the polling path agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from core.ports import InfraPhase
from providers.ecs import EcsProvider, make_provider
from providers.ecs.ids import parse_infra_id
from providers.ecs.status import task_change
from tests.fakes.moto_ecs import REGION, MotoEcs, task_state_change_event
from tests.providers.ecs_jobs import ecs_job, prefect_shaped

EVENTS = Path(__file__).parents[1] / "events"
RUN_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:111122223333:cluster/flows"
TASK_ARN = "arn:aws:ecs:us-east-1:111122223333:task/flows/0f9f2a8c5b6d4e7f8a9b0c1d2e3f4a5b"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"ecs_task_{name}.json").read_text())


@pytest.mark.parametrize(
    ("name", "phase", "exit_code"),
    [
        ("provisioning", InfraPhase.PENDING, None),
        ("pending", InfraPhase.PENDING, None),
        ("running", InfraPhase.RUNNING, None),
        ("stopped_exit_0", InfraPhase.EXITED, 0),
        ("stopped_exit_1", InfraPhase.EXITED, 1),
        ("stopped_user", InfraPhase.CANCELLED, 143),
    ],
)
def test_each_lifecycle_event_maps_to_the_run_and_its_phase(
    name: str, phase: InfraPhase, exit_code: int | None
) -> None:
    change = task_change(sample(name))

    assert change is not None
    assert (change.run_id, change.attempt) == (RUN_ID, 1)
    assert change.infra_id == f"{CLUSTER_ARN}|{TASK_ARN}"
    assert change.status.phase is phase
    if phase is InfraPhase.EXITED:
        assert change.status.exit_code == exit_code


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("stopped_image_pull", "CannotPullContainerError"),
        ("stopped_oom", "OutOfMemoryError"),
        ("stopped_spot", "Spot Task was interrupted"),
    ],
)
def test_tasks_that_failed_to_start_were_oom_killed_or_interrupted_crash_with_the_reason(
    name: str, fragment: str
) -> None:
    change = task_change(sample(name))

    assert change is not None
    assert change.status.phase is InfraPhase.CRASHED
    assert fragment in change.status.reason


def test_the_event_version_and_time_are_kept_to_order_late_deliveries() -> None:
    running = task_change(sample("running"))
    stopped = task_change(sample("stopped_exit_0"))

    assert running is not None and stopped is not None
    assert running.version is not None and stopped.version is not None
    assert running.version < stopped.version
    assert running.at is not None and running.at.tzinfo is not None
    assert stopped.at is not None and running.at < stopped.at


def test_tasks_pushpool_did_not_start_are_ignored() -> None:
    assert task_change(sample("not_pushpool")) is None


def test_other_events_are_ignored() -> None:
    event = sample("running")
    event["detail-type"] = "ECS Container Instance State Change"
    assert task_change(event) is None
    assert task_change({"source": "aws.ecs"}) is None


def test_a_task_whose_group_was_changed_is_matched_by_its_run_id_variable() -> None:
    event = sample("running")
    event["detail"]["group"] = "family:pushpool-56cd7a783c51e57c"

    change = task_change(event)

    assert change is not None
    assert (change.run_id, change.attempt) == (RUN_ID, None)


# -- events for tasks started through the provider -------------------------------------------


@pytest.fixture
def provider(aws: MotoEcs) -> EcsProvider:
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="flows")
    return make_provider(ecs_client=ecs, ec2_client=boto3.client("ec2", region_name=REGION))


def event_for(infra_id: str) -> dict[str, Any]:
    cluster, task_arn = parse_infra_id(infra_id)
    ecs = boto3.client("ecs", region_name=REGION)
    return task_state_change_event(
        ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
    )


def test_events_and_polling_agree_on_a_task_the_provider_started(
    provider: EcsProvider, aws: MotoEcs
) -> None:
    run_id = "3f2b8c1a-6d4e-4f7a-9b0c-1d2e3f4a5b6c"
    job = ecs_job(prefect_shaped(run_id, network_configuration=None), run_id=run_id, attempt=2)
    infra_id = provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)
    task_arn = parse_infra_id(infra_id)[1]

    observed = []
    for move in ("submitted", "started", "exited"):
        if move == "started":
            aws.start(task_arn)
        elif move == "exited":
            aws.exit(task_arn, 4)
        change = task_change(event_for(infra_id))
        assert change is not None
        assert (change.run_id, change.attempt, change.infra_id) == (run_id, 2, infra_id)
        assert change.status == provider.status(infra_id)
        observed.append((change.status.phase, change.status.exit_code))
    assert observed == [
        (InfraPhase.PENDING, None),
        (InfraPhase.RUNNING, None),
        (InfraPhase.EXITED, 4),
    ]
