"""Cloud Run execution -> ``InfraStatus``: pure, from the execution's conditions.

The exit code lives on the execution's tasks, not the execution; it is
fetched (through ``exit_codes``) only when a failed execution needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from core.ports import InfraPhase, InfraStatus

# google.cloud.run.v2.Condition.State and .ExecutionReason values.
PENDING_, RECONCILING, FAILED, SUCCEEDED = 1, 2, 3, 4
NON_ZERO_EXIT_CODE, CANCELLED, CANCELLING = 2, 3, 4


def execution_status(execution: Any, exit_codes: Callable[[], Iterable[int]]) -> InfraStatus:
    """What a ``run_v2.Execution`` says; ``exit_codes`` lists its tasks' last exit codes."""
    conditions = {c.type_: c for c in execution.conditions}
    completed = conditions.get("Completed")
    if completed is not None and completed.state in {SUCCEEDED, FAILED}:
        return _finished(execution, completed, exit_codes)
    for kind in ("ResourcesAvailable", "Started"):
        failed = conditions.get(kind)
        if failed is not None and failed.state == FAILED:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=failed.message)
    started = conditions.get("Started")
    if execution.running_count > 0 or (started is not None and started.state == SUCCEEDED):
        return InfraStatus(phase=InfraPhase.RUNNING)
    return InfraStatus(phase=InfraPhase.PENDING)


def _finished(
    execution: Any, completed: Any, exit_codes: Callable[[], Iterable[int]]
) -> InfraStatus:
    if execution.cancelled_count > 0 or completed.execution_reason == CANCELLED:
        return InfraStatus(phase=InfraPhase.CANCELLED, reason=completed.message)
    if completed.state == SUCCEEDED:
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=0, reason=completed.message)
    code = next((code for code in exit_codes() if code), None)
    if code is not None:
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=code, reason=completed.message)
    return InfraStatus(
        phase=InfraPhase.CRASHED, reason=completed.message or "Cloud Run execution failed"
    )
