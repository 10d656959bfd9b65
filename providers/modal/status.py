"""What Modal says about a call or a sandbox -> ``InfraStatus``: pure."""

from __future__ import annotations

from core.ports import InfraPhase, InfraStatus
from providers.modal.seam import CallState, SandboxState

CANCELLED_TAG = "pushpool-cancelled"
SANDBOX_TIMEOUT_CODE, SANDBOX_KILLED_CODE = 124, 137  # what Modal reports for those ends


def call_status(state: CallState) -> InfraStatus:
    match state.status:
        case "pending":
            return InfraStatus(phase=InfraPhase.PENDING)
        case "running":
            return InfraStatus(phase=InfraPhase.RUNNING)
        case "success":
            code = state.result if type(state.result) is int else 0
            return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)
        case "failure":
            return InfraStatus(
                phase=InfraPhase.EXITED, exit_code=1, reason=f"the function raised: {state.message}"
            )
        case "terminated":
            return InfraStatus(phase=InfraPhase.CANCELLED, reason="the function call was cancelled")
        case "timeout":
            return InfraStatus(phase=InfraPhase.CRASHED, reason="the function call timed out")
    return InfraStatus(
        phase=InfraPhase.CRASHED, reason=f"the function failed to start: {state.message}"
    )


def sandbox_status(state: SandboxState) -> InfraStatus:
    code = state.returncode
    if code is None:
        return InfraStatus(phase=InfraPhase.RUNNING)
    if state.tags.get(CANCELLED_TAG) == "true":
        return InfraStatus(phase=InfraPhase.CANCELLED, reason="the sandbox was terminated")
    if code == SANDBOX_TIMEOUT_CODE:
        return InfraStatus(phase=InfraPhase.CRASHED, reason="the sandbox hit its timeout")
    if code == SANDBOX_KILLED_CODE:
        return InfraStatus(
            phase=InfraPhase.CRASHED,
            reason="the sandbox was killed (out of memory, or terminated outside pushpool)",
        )
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)
