"""Docker container state -> ``InfraStatus``."""

from __future__ import annotations

from typing import Any

from core.ports import InfraPhase, InfraStatus


def container_status(state: dict[str, Any], *, cancelled: bool) -> InfraStatus:
    status = state.get("Status")
    error = state.get("Error") or ""
    code = state.get("ExitCode")
    if status in {"running", "restarting", "paused"}:
        return InfraStatus(phase=InfraPhase.RUNNING)
    if status == "created" and not error:
        if cancelled:
            return InfraStatus(phase=InfraPhase.CANCELLED, reason="cancelled before it started")
        return InfraStatus(phase=InfraPhase.PENDING)
    if cancelled:
        return InfraStatus(phase=InfraPhase.CANCELLED, exit_code=code, reason="cancelled")
    if state.get("OOMKilled"):
        return InfraStatus(phase=InfraPhase.CRASHED, exit_code=code, reason="OOM-killed")
    if error:
        return InfraStatus(
            phase=InfraPhase.CRASHED, exit_code=code, reason=f"failed to start: {error}"
        )
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)
