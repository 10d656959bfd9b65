"""A container group's instance view -> ``InfraStatus``: pure.

The group's state says whether pushpool stopped it; the flow container's
current state says whether it runs, ended (with its exit code) or never
started, and its warning events say why.
"""

from __future__ import annotations

from typing import Any

from core.ports import InfraPhase, InfraStatus

FAILED_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def _reason(group: Any, container: Any) -> str:
    """The most useful explanation ACI gives: the last warning event, else a status."""
    events = list((container.instance_view.events if container.instance_view else None) or [])
    events += list((group.instance_view.events if group.instance_view else None) or [])
    warnings = [e.message for e in events if e.type == "Warning" and e.message]
    if warnings:
        return str(warnings[-1])
    state = container.instance_view.current_state if container.instance_view else None
    return str((state.detail_status if state else None) or "container group failed")


def group_status(group: Any) -> InfraStatus:
    container = group.containers[0]
    view = container.instance_view
    current = view.current_state if view is not None else None
    if group.instance_view is not None and group.instance_view.state == "Stopped":
        return InfraStatus(phase=InfraPhase.CANCELLED, reason="the container group was stopped")
    if current is not None and current.state == "Terminated":
        if current.exit_code is None:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=_reason(group, container))
        return InfraStatus(
            phase=InfraPhase.EXITED, exit_code=current.exit_code, reason=current.detail_status or ""
        )
    waiting_failed = current is not None and current.detail_status in FAILED_WAITING
    if group.provisioning_state == "Failed" or waiting_failed:
        return InfraStatus(phase=InfraPhase.CRASHED, reason=_reason(group, container))
    if current is not None and current.state == "Running":
        return InfraStatus(phase=InfraPhase.RUNNING)
    return InfraStatus(phase=InfraPhase.PENDING)
