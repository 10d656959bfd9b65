"""Pure rules for moving a flow run between states.

Both stores call :func:`transition` to compute the run they persist, so a
state change means the same thing on DynamoDB and on SQLite; the store's
conditional write only decides whether it happens.
"""

from __future__ import annotations

from datetime import datetime

from core.models import FlowRun
from core.states import SLOT_HOLDING, State, StateType

HISTORY_KEPT = 50


def slot_delta(old: StateType, new: StateType) -> int:
    """+1 when a run starts holding slots, -1 when it stops, else 0."""
    return int(new in SLOT_HOLDING) - int(old in SLOT_HOLDING)


def transition(
    run: FlowRun,
    state: State,
    *,
    lease_expires: datetime | None = None,
    infrastructure_pid: str | None = None,
) -> FlowRun:
    """The run after entering ``state``.

    Returning to SCHEDULED from a slot-holding state starts a new attempt:
    the infrastructure id and lease are cleared so the next claim is keyed
    by ``(run id, attempt + 1)`` and cannot collide with the abandoned one.
    """
    update: dict[str, object] = {
        "state": state,
        "state_history": (*run.state_history, run.state)[-HISTORY_KEPT:],
        "updated": state.timestamp,
        "version": run.version + 1,
    }
    if state.type is StateType.SCHEDULED:
        if state.scheduled_time is not None:
            update["next_scheduled_start_time"] = state.scheduled_time
        if run.state.type in SLOT_HOLDING:
            update |= {
                "attempt": run.attempt + 1,
                "infrastructure_pid": None,
                "submitted_at": None,
                "worker_name": None,
            }
        update["lease_expires"] = None
    elif state.type is StateType.PENDING and lease_expires is not None:
        update["lease_expires"] = lease_expires
    elif state.type not in SLOT_HOLDING:
        update["lease_expires"] = None
    if infrastructure_pid is not None:
        update |= {
            "infrastructure_pid": infrastructure_pid,
            "submitted_at": state.timestamp,
            "lease_expires": None,
        }
    return run.model_copy(update=update)
