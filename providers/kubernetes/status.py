"""Job and Pod status -> ``InfraStatus`` pieces (failed jobs, stuck pods)."""

from __future__ import annotations

from typing import Any

from core.ports import InfraPhase, InfraStatus

STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "Unschedulable"}
)


def failed_status(condition: Any, pod: Any) -> InfraStatus:
    terminated = terminated_state(pod)
    if terminated is not None and terminated.reason == "OOMKilled":
        return InfraStatus(
            phase=InfraPhase.CRASHED, exit_code=terminated.exit_code, reason="OOM-killed"
        )
    reason = f"{condition.reason}: {condition.message}" if condition.reason else "job failed"
    if terminated is None:
        return InfraStatus(phase=InfraPhase.CRASHED, reason=reason)
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=terminated.exit_code, reason=reason)


def terminated_state(pod: Any) -> Any:
    for status in (pod.status.container_statuses or []) if pod is not None else []:
        if status.state is not None and status.state.terminated is not None:
            return status.state.terminated
    return None


def stuck_reason(pod: Any) -> str:
    """Why a pending pod cannot make progress on its own, or ''."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state is not None else None
        if waiting is not None and waiting.reason in STUCK_REASONS:
            return f"{waiting.reason}: {waiting.message or ''}".rstrip(": ")
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
            return f"Unschedulable: {condition.message or ''}".rstrip(": ")
    return ""
