"""The ECS task-state rule forwards only the changes that move a run, and
template.yaml and infra/ forward the same ones.

ECS emits about nine "ECS Task State Change" events per task (PROVISIONING,
PENDING, ACTIVATING, RUNNING, the stop request, DEACTIVATING, STOPPING,
DEPROVISIONING, STOPPED); only two change a run's state type (RUNNING, the
final one), so only those are forwarded: PENDING would only rename PENDING to
InfrastructurePending, a write and an invocation per run (docs/decisions.md).
The patterns are matched by moto's EventBridge rule matcher.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.deploy.conftest import INFRA

EVENTS = Path(__file__).parents[1] / "events"
TERRAFORM_PATTERN = INFRA / "modules" / "pushpool" / "ecs_task_events.json"


def sam_pattern(sam_template: dict[str, Any]) -> dict[str, Any]:
    function = sam_template["Resources"]["InfraEventsFunction"]["Properties"]
    pattern: dict[str, Any] = function["Events"]["EcsTaskStateChange"]["Properties"]["Pattern"]
    return pattern


def sample(name: str, **detail: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event["detail"].update(detail)
    return event


FORWARDED = {
    "running": sample("ecs_task_running"),
    **{
        name: sample(f"ecs_task_{name}")
        for name in ("stopped_exit_0", "stopped_exit_1", "stopped_oom", "stopped_user")
    },
    "stopped_before_start": sample("ecs_task_stopped_image_pull"),
}
IGNORED = {
    "provisioning": sample("ecs_task_provisioning"),
    "pending": sample("ecs_task_pending"),
    "activating": sample("ecs_task_running", lastStatus="ACTIVATING"),
    "stop_requested": sample("ecs_task_running", desiredStatus="STOPPED"),
    "stopped_while_pending": sample("ecs_task_pending", desiredStatus="STOPPED"),
    **{
        status.lower(): sample("ecs_task_running", lastStatus=status, desiredStatus="STOPPED")
        for status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
    },
    "not_pushpool": sample("ecs_task_not_pushpool"),
}


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    # moto's rule matcher (the one its PutEvents routes with); its
    # TestEventPattern API is not implemented.
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def test_template_and_terraform_forward_the_same_events(sam_template):
    assert sam_pattern(sam_template) == json.loads(TERRAFORM_PATTERN.read_text())


@pytest.mark.parametrize("name", sorted(FORWARDED))
def test_changes_that_move_a_run_are_forwarded(sam_template, name):
    assert matches(sam_pattern(sam_template), FORWARDED[name])


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_changes_that_move_nothing_are_not_forwarded(sam_template, name):
    assert not matches(sam_pattern(sam_template), IGNORED[name])
