"""Vertex AI custom job -> ``InfraStatus``: pure, from the job's state and error.

Vertex AI reports no exit code field; a container that exits non-zero fails
the job with an error message of the form "The replica workerpool0-0 exited
with a non-zero status of 3", which is where the code is read from.
"""

from __future__ import annotations

import re
from typing import Any

from core.ports import InfraPhase, InfraStatus

# google.cloud.aiplatform.v1.JobState values.
(UNSPECIFIED, QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED) = range(8)
PAUSED, EXPIRED, UPDATING, PARTIALLY_SUCCEEDED = 8, 9, 10, 11

_EXIT_STATUS = re.compile(r"non-zero status of (-?\d+)")
_LIVE = {
    UNSPECIFIED: InfraPhase.PENDING,
    QUEUED: InfraPhase.PENDING,
    PENDING: InfraPhase.PENDING,
    PAUSED: InfraPhase.PENDING,
    UPDATING: InfraPhase.PENDING,
    RUNNING: InfraPhase.RUNNING,
    CANCELLING: InfraPhase.RUNNING,  # still using its machines until CANCELLED
}


def custom_job_status(custom_job: Any) -> InfraStatus:
    """What an ``aiplatform_v1.CustomJob`` says about the flow's container."""
    state = int(custom_job.state)
    message = str(custom_job.error.message)
    if state in _LIVE:
        return InfraStatus(phase=_LIVE[state])
    if state == SUCCEEDED:
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
    if state == CANCELLED:
        return InfraStatus(phase=InfraPhase.CANCELLED, reason=message or "cancelled")
    exit_status = _EXIT_STATUS.search(message)
    if state == FAILED and exit_status is not None:
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=int(exit_status[1]), reason=message)
    if state == EXPIRED:
        message = message or "the custom job expired before it could run"
    return InfraStatus(
        phase=InfraPhase.CRASHED, reason=message or f"Vertex AI custom job ended in state {state}"
    )
