"""A Job and its Pods (the API's JSON) -> ``InfraStatus`` (``job_status``).

Every field is read with a default: the API server omits empty ones, and a
status that lacks one must not break polling.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.ports import InfraPhase, InfraStatus

STUCK_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "Unschedulable"}
)
_NEVER = datetime.min.replace(tzinfo=UTC)


def job_status(
    job: dict[str, Any], pods: list[dict[str, Any]], *, now: datetime, pod_watch_timeout: float
) -> InfraStatus:
    """A Job and its pods -> ``InfraStatus``.

    Kubernetes never fails a Job whose pod waits on an image pull or on
    scheduling; such a pod older than ``pod_watch_timeout`` seconds is CRASHED
    with Kubernetes' reason, so the slot is freed and the user learns why.
    """
    conditions = true_conditions(job)
    newest = max(pods, key=created_at, default=None)
    if "Complete" in conditions:
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
    if "Failed" in conditions:
        return failed_status(conditions["Failed"], newest)
    if newest is None:
        return InfraStatus(phase=InfraPhase.PENDING)
    if (newest.get("status") or {}).get("phase") != "Pending":
        return InfraStatus(phase=InfraPhase.RUNNING)
    stuck = stuck_reason(newest)
    age = (now - created_at(newest)).total_seconds()
    if stuck and age > pod_watch_timeout:
        pod_name = (newest.get("metadata") or {}).get("name", "?")
        return InfraStatus(
            phase=InfraPhase.CRASHED,
            reason=f"pod {pod_name} {stuck} (for more than {pod_watch_timeout:g}s)",
        )
    return InfraStatus(phase=InfraPhase.PENDING)


def true_conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Job's conditions whose status is "True", by type."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return {c.get("type", ""): c for c in conditions if c.get("status") == "True"}


def created_at(obj: dict[str, Any]) -> datetime:
    """``metadata.creationTimestamp`` (RFC 3339, UTC); the distant past when absent."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        parsed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return _NEVER
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def failed_status(condition: dict[str, Any], pod: dict[str, Any] | None) -> InfraStatus:
    terminated = terminated_state(pod)
    exit_code = terminated.get("exitCode") if terminated is not None else None
    if not isinstance(exit_code, int):
        terminated = None  # no exit code to report: the run crashed, for the condition's reason
    if terminated is not None and terminated.get("reason") == "OOMKilled":
        return InfraStatus(phase=InfraPhase.CRASHED, exit_code=exit_code, reason="OOM-killed")
    reason = (
        f"{condition['reason']}: {condition.get('message', '')}"
        if condition.get("reason")
        else "job failed"
    )
    if terminated is None:
        return InfraStatus(phase=InfraPhase.CRASHED, reason=reason)
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=exit_code, reason=reason)


def terminated_state(pod: dict[str, Any] | None) -> dict[str, Any] | None:
    for status in _container_statuses(pod) if pod is not None else []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated is not None:
            return dict(terminated)
    return None


def stuck_reason(pod: dict[str, Any]) -> str:
    """Why a pending pod cannot make progress on its own, or ''."""
    for status in _container_statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            return f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return f"Unschedulable: {condition.get('message') or ''}".rstrip(": ")
    return ""


def _container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])
