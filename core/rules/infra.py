"""What a report about a run's infrastructure means for the run's state.

Events and polls arrive late, twice, or out of order (EventBridge retries,
SQS redelivery, a poll racing an event), so the mapping is monotonic: it
never moves a terminal run, never goes backwards (RUNNING never returns to
PENDING), and ignores reports about an attempt the run has moved past.
``None`` means "change nothing"; applying the same report twice is a no-op.

Exit mapping (design §5): exit 0 completes the run unless it already
reported its own final state; a non-zero exit fails it; infrastructure that
failed to start, was killed or vanished crashes it with the provider's reason.
"""

from __future__ import annotations

from datetime import datetime

from core.models import FlowRun
from core.ports import InfraPhase, InfraStatus
from core.states import SLOT_HOLDING, State, StateType, new_state

INFRASTRUCTURE_PENDING = "InfrastructurePending"


def _with_reason(message: str, reason: str) -> str:
    return f"{message}: {reason}" if reason else message


def final_state(status: InfraStatus, *, now: datetime) -> State:
    """The terminal state a stopped infrastructure leaves an active run in
    (public for the pull worker, which reports it through the API)."""
    if status.phase is InfraPhase.EXITED and status.exit_code == 0:
        return new_state(StateType.COMPLETED, at=now, message="Infrastructure exited with code 0")
    if status.phase is InfraPhase.EXITED and status.exit_code is not None:
        message = _with_reason(f"Infrastructure exited with code {status.exit_code}", status.reason)
        return new_state(StateType.FAILED, at=now, message=message)
    if status.phase is InfraPhase.EXITED:
        message = _with_reason("Infrastructure stopped without an exit code", status.reason)
        return new_state(StateType.CRASHED, at=now, message=message)
    if status.phase is InfraPhase.CANCELLED:
        message = _with_reason("Infrastructure was stopped outside pushpool", status.reason)
        return new_state(StateType.CRASHED, at=now, message=message)
    return new_state(StateType.CRASHED, at=now, message=status.reason or "Infrastructure crashed")


def next_state(
    run: FlowRun, status: InfraStatus, *, now: datetime, infra_id: str | None = None
) -> State | None:
    """The state ``run`` moves to on ``status``, or None to leave it alone.

    ``infra_id`` names the infrastructure the report is about; a report for
    any other id (an abandoned attempt, or one not yet recorded) is ignored.
    """
    if infra_id is not None and run.infrastructure_pid != infra_id:
        return None
    current = run.state.type
    if current not in SLOT_HOLDING:
        # Terminal, or SCHEDULED/PAUSED: nothing of this attempt is running.
        return None
    phase = status.phase
    if current is StateType.CANCELLING:
        if phase in (InfraPhase.PENDING, InfraPhase.RUNNING):
            return None
        message = _with_reason("Infrastructure stopped after cancellation", status.reason)
        return new_state(StateType.CANCELLED, at=now, message=message)
    if phase is InfraPhase.PENDING:
        if current is StateType.PENDING and run.state.name != INFRASTRUCTURE_PENDING:
            return new_state(
                StateType.PENDING, at=now, name=INFRASTRUCTURE_PENDING, message=status.reason
            )
        return None
    if phase is InfraPhase.RUNNING:
        if current is StateType.PENDING:
            return new_state(StateType.RUNNING, at=now, message=status.reason)
        return None
    return final_state(status, now=now)
