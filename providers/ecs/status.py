"""What an ECS task's state means for its flow run, from ``DescribeTasks`` or
from an EventBridge "ECS Task State Change" event.

Both carry the same task object (the event's ``detail`` is a task as
DescribeTasks returns it), so one function maps both and the event path and
the polling fallback can never disagree.  Mapping (design §5, issue 5):

* PROVISIONING / PENDING / ACTIVATING -> PENDING (InfrastructurePending);
* anything else before STOPPED -> RUNNING (the container may still run);
* STOPPED by ``StopTask`` (stopCode UserInitiated) -> CANCELLED;
* STOPPED because the task never started (``TaskFailedToStart``), an image
  pull or container start error, OOM, or a Spot/scheduler termination ->
  CRASHED with ECS's reason;
* STOPPED after the flow container exited -> EXITED with its exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.ports import InfraPhase, InfraStatus
from providers.ecs.ids import infra_id, parse_group

EVENT_SOURCE = "aws.ecs"
EVENT_DETAIL_TYPE = "ECS Task State Change"
PENDING_STATUSES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
CRASH_MARKERS = (
    "OutOfMemoryError",
    "CannotPullContainerError",
    "CannotStartContainerError",
    "CannotCreateContainerError",
    "CannotInspectContainerError",
    "ResourceInitializationError",
    "ContainerRuntimeError",
    "ContainerRuntimeTimeoutError",
)
CRASH_STOP_CODES = frozenset(
    {"TaskFailedToStart", "SpotInterruption", "TerminationNotice", "ServiceSchedulerInitiated"}
)


def task_status(task: Mapping[str, Any]) -> InfraStatus:
    """The ``InfraStatus`` of one ECS task object."""
    last_status = str(task.get("lastStatus") or "")
    if last_status in PENDING_STATUSES:
        return InfraStatus(phase=InfraPhase.PENDING)
    if last_status != "STOPPED":
        return InfraStatus(phase=InfraPhase.RUNNING)
    stop_code = str(task.get("stopCode") or "")
    stopped_reason = str(task.get("stoppedReason") or "")
    container = flow_container(task)
    container_reason = str(container.get("reason") or "")
    if stop_code == "UserInitiated":
        return InfraStatus(
            phase=InfraPhase.CANCELLED, reason=stopped_reason or "stopped through StopTask"
        )
    crash = next((m for m in CRASH_MARKERS if m in f"{container_reason} {stopped_reason}"), None)
    if crash is not None or stop_code in CRASH_STOP_CODES:
        details = [text for text in (stopped_reason, container_reason) if text]
        reason = "; ".join(details) or stop_code
        return InfraStatus(
            phase=InfraPhase.CRASHED,
            exit_code=container.get("exitCode"),
            reason=f"ECS task {stop_code or 'stopped'}: {reason}",
        )
    exit_code = container.get("exitCode")
    if exit_code is None:
        reason = stopped_reason or container_reason or "the container never ran"
        return InfraStatus(phase=InfraPhase.CRASHED, reason=f"ECS task stopped: {reason}")
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=int(exit_code), reason=stopped_reason)


def flow_container(task: Mapping[str, Any]) -> Mapping[str, Any]:
    """The container the flow ran in: the one named by the first container
    override (pushpool always puts the flow's there), else the first one."""
    containers: list[Mapping[str, Any]] = list(task.get("containers") or [])
    overrides = (task.get("overrides") or {}).get("containerOverrides") or []
    name = overrides[0].get("name") if overrides else None
    for container in containers:
        if name is not None and container.get("name") == name:
            return container
    return containers[0] if containers else {}


def run_of_task(task: Mapping[str, Any]) -> tuple[str, int | None] | None:
    """``(run id, attempt)`` of a task pushpool started, or None for others.

    The ``group`` says both; the ``PUSHPOOL_FLOW_RUN_ID`` override is the
    fallback for tasks whose group was changed (attempt then unknown).
    """
    parsed = parse_group(task.get("group"))
    if parsed is not None:
        return parsed
    for override in (task.get("overrides") or {}).get("containerOverrides") or []:
        for variable in override.get("environment") or []:
            if variable.get("name") == "PUSHPOOL_FLOW_RUN_ID" and variable.get("value"):
                return str(variable["value"]), None
    return None


class TaskChange(BaseModel):
    """One "ECS Task State Change" event, as the infra-events handler needs it.

    ``infra_id`` has the same format ``submit`` returns, so the handler can
    ignore events about an abandoned attempt's task; ``version`` grows with
    every change of one task, so late deliveries can be recognised.
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    attempt: int | None
    infra_id: str
    status: InfraStatus
    version: int | None = None
    at: datetime | None = None


def task_change(event: Mapping[str, Any]) -> TaskChange | None:
    """Map an EventBridge event; None if it is not a task pushpool started."""
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or not detail.get("taskArn"):
        return None
    owner = run_of_task(detail)
    if owner is None:
        return None
    version = detail.get("version")
    return TaskChange(
        run_id=owner[0],
        attempt=owner[1],
        infra_id=infra_id(str(detail.get("clusterArn") or ""), str(detail["taskArn"])),
        status=task_status(detail),
        version=int(version) if isinstance(version, int | str) and str(version).isdigit() else None,
        at=_parse_time(event.get("time")),
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
