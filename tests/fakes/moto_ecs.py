"""moto's ECS, brought closer to the real service for the ECS provider tests.

moto is the ECS backend of the provider tests (design §8), but a few gaps
would make those tests prove nothing or fail for moto's sake.  ``moto_ecs()``
patches them while it is active, each the way the real service behaves:

* RunTask ignores ``clientToken``: here a repeated token on the same cluster
  returns the tasks the first call started, and a token reused with other
  parameters raises ``ConflictException`` (ECS's documented idempotency).
* RunTask with a capacity provider strategy (FARGATE_SPOT) crashes in moto;
  here Fargate capacity providers place the task like FARGATE.
* Tasks start in PROVISIONING, as ECS tasks do, and stay in a state until the
  test moves them (``MotoEcs.start`` / ``exit`` / ``fail_to_start``...)
  instead of advancing on every DescribeTasks.
* Container-level memory is optional when the task sets it (Fargate); moto's
  placement arithmetic crashed on it.
* StopTask sets ``stopCode`` UserInitiated, and an unknown task answers
  ``InvalidParameterException`` instead of a 500.

``task_state_change_event`` wraps a task as DescribeTasks returns it in the
EventBridge "ECS Task State Change" envelope, the way ECS emits it (the
samples in ``tests/events/ecs_task_*.json`` show the full shape), so handler
tests can feed moto's tasks to the infra-events function.

``tests/providers/test_ecs_fake.py`` checks these behaviours.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

from moto import mock_aws
from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api import state_manager

ACCOUNT = "123456789012"
REGION = "us-east-1"
PULL_ERROR = (
    "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
    "failed to resolve ref docker.io/library/flows:missing: not found"
)


@dataclass
class MotoEcs:
    """Drives the tasks moto holds, as the ECS control plane would."""

    region: str = REGION
    tokens: dict[tuple[str, str], tuple[str, list[str]]] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    @property
    def backend(self) -> EC2ContainerServiceBackend:
        return ecs_backends[ACCOUNT][self.region]

    def task(self, task_arn: str) -> Task:
        for tasks in self.backend.tasks.values():
            if task_arn in tasks:
                return tasks[task_arn]
        raise KeyError(task_arn)

    def start(self, task_arn: str) -> None:
        task = self.task(task_arn)
        task.last_status = "RUNNING"
        for container in task.containers:
            container.last_status = "RUNNING"

    def exit(self, task_arn: str, code: int, *, reason: str | None = None) -> None:
        self._stop(task_arn, "EssentialContainerExited", "Essential container in task exited")
        for container in self.task(task_arn).containers:
            container.exitCode = code
            if reason is not None:
                container.reason = reason

    def fail_to_start(self, task_arn: str, reason: str = PULL_ERROR) -> None:
        self._stop(task_arn, "TaskFailedToStart", reason)

    def vanish(self, task_arn: str) -> None:
        for tasks in self.backend.tasks.values():
            tasks.pop(task_arn, None)

    def _stop(self, task_arn: str, stop_code: str, reason: str) -> None:
        task = self.task(task_arn)
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = stop_code
        task.stopped_reason = reason
        for container in task.containers:
            container.last_status = "STOPPED"

    # -- patched moto behaviour ------------------------------------------------------

    def run_task(self, response: EC2ContainerServiceResponse) -> ActionResult:
        params = {key: response._get_param(key) for key in _RUN_TASK_PARAMS}
        cluster = str(params["cluster"] or "default").split("/")[-1]
        token = params.pop("clientToken")
        fingerprint = json.dumps(params, sort_keys=True, default=str)
        if token and (cluster, token) in self.tokens:
            first_fingerprint, arns = self.tokens[(cluster, token)]
            if first_fingerprint != fingerprint:
                raise ECSException(
                    "ConflictException",
                    "The provided clientToken is already in use with a different RunTask request.",
                )
            return ActionResult({"tasks": [self.task(a) for a in arns], "failures": []})
        launch_type = params["launchType"]
        strategy = params["capacityProviderStrategy"] or []
        if launch_type is None and any("FARGATE" in s["capacityProvider"] for s in strategy):
            launch_type = "FARGATE"
        tasks = response.ecs_backend.run_task(
            params["cluster"] or "default",
            params["taskDefinition"],
            1,
            params["overrides"],
            params["startedBy"],
            params["tags"],
            launch_type,
            params["networkConfiguration"],
            params["group"],
            params["platformVersion"],
        )
        for task in tasks:
            task.last_status = "PROVISIONING"
            for container in task.containers:
                container.exitCode = None
            self.started.append(task.task_arn)
        if token:
            self.tokens[(cluster, token)] = (fingerprint, [t.task_arn for t in tasks])
        return ActionResult({"tasks": tasks, "failures": []})


_RUN_TASK_PARAMS = (
    "cluster",
    "taskDefinition",
    "overrides",
    "startedBy",
    "tags",
    "launchType",
    "capacityProviderStrategy",
    "networkConfiguration",
    "group",
    "platformVersion",
    "clientToken",
)
_original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements
_original_stop_task = EC2ContainerServiceBackend.stop_task


def _requirements(task_definition: Any) -> dict[str, Any]:
    """moto's placement arithmetic, with container memory falling back to the task's."""
    task_memory = int(task_definition.memory or 0)
    containers = [
        {**c, "memory": c.get("memory") or c.get("memoryReservation") or task_memory}
        for c in task_definition.container_definitions
    ]
    return _original_requirements(SimpleNamespace(container_definitions=containers))


def _stop_task(
    backend: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str
) -> Task:
    cluster = backend._get_cluster(cluster_str)
    task_id = task_str.rsplit("/", maxsplit=1)[-1]
    known = [arn for arn in backend.tasks.get(cluster.name, {}) if arn.endswith(task_id)]
    if not known:
        raise InvalidParameterException("The referenced task was not found.")
    task = backend.tasks[cluster.name][known[0]]
    was_running = task.last_status == "RUNNING"
    stopped = _original_stop_task(backend, cluster_str, task_str, reason)
    stopped.stop_code = "UserInitiated"
    for container in stopped.containers:
        container.last_status = "STOPPED"
        container.exitCode = 143 if was_running else None
    return stopped


def task_state_change_event(
    task: Mapping[str, Any],
    *,
    version: int = 1,
    event_id: str = "00000000-0000-4000-8000-000000000000",
) -> dict[str, Any]:
    """An EventBridge "ECS Task State Change" event for a DescribeTasks task."""
    detail = json.loads(json.dumps(dict(task), default=_iso))
    detail.setdefault("version", version)
    _, _, _, region, account, _ = str(detail["taskArn"]).split(":", 5)
    updated = detail.get("stoppedAt") or detail.get("startedAt") or detail.get("createdAt")
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": account,
        "time": str(updated or "2026-01-01T00:00:00+00:00").replace("+00:00", "Z"),
        "region": region,
        "resources": [detail["taskArn"]],
        "detail": detail,
    }


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


@contextlib.contextmanager
def moto_ecs(region: str = REGION, *, start_mock: bool = True) -> Iterator[MotoEcs]:
    """``mock_aws`` with the patches above; yields the control object.

    Inside an already active ``mock_aws`` (an end-to-end test that also holds
    DynamoDB and SQS state) pass ``start_mock=False``: starting a second mock
    would reset every backend.
    """
    fake = MotoEcs(region=region)

    def run_task(response: EC2ContainerServiceResponse) -> ActionResult:
        return fake.run_task(response)  # a function, so moto's instance binds to it

    with contextlib.ExitStack() as stack:
        if start_mock:
            stack.enter_context(mock_aws())
        stack.enter_context(mock.patch.object(EC2ContainerServiceResponse, "run_task", run_task))
        stack.enter_context(
            mock.patch.object(
                EC2ContainerServiceBackend,
                "_calculate_task_resource_requirements",
                staticmethod(_requirements),
            )
        )
        stack.enter_context(mock.patch.object(EC2ContainerServiceBackend, "stop_task", _stop_task))
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        stack.callback(state_manager.unset_transition, "ecs::task")
        yield fake
