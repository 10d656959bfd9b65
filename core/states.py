"""Flow-run state types and names, and the rules that depend only on them."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"


TERMINAL: frozenset[StateType] = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)

# Types that hold a pool slot and a queue slot.  CANCELLING counts too: its
# infrastructure is still alive until the provider confirms it stopped, so
# freeing the slot earlier would let a limit be exceeded (see decisions.md).
SLOT_HOLDING: frozenset[StateType] = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.CANCELLING}
)

# Names that Prefect uses for each type; the first is the default.
STATE_NAMES: dict[StateType, tuple[str, ...]] = {
    StateType.SCHEDULED: ("Scheduled", "Late", "AwaitingRetry"),
    StateType.PENDING: ("Pending", "Submitting", "InfrastructurePending"),
    StateType.RUNNING: ("Running",),
    StateType.COMPLETED: ("Completed",),
    StateType.FAILED: ("Failed",),
    StateType.CRASHED: ("Crashed",),
    StateType.CANCELLING: ("Cancelling",),
    StateType.CANCELLED: ("Cancelled", "Skipped"),  # Skipped: by a late-run policy
    StateType.PAUSED: ("Paused",),
}

LATE_AFTER = timedelta(seconds=15)


class State(BaseModel):
    """One state a run was in: type, display name, when, and why."""

    model_config = ConfigDict(frozen=True)

    type: StateType
    name: str
    timestamp: datetime
    message: str = ""
    scheduled_time: datetime | None = Field(
        default=None, description="For SCHEDULED states: when the run is due."
    )

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL

    @property
    def holds_slot(self) -> bool:
        return self.type in SLOT_HOLDING


def new_state(
    state_type: StateType,
    *,
    at: datetime,
    name: str | None = None,
    message: str = "",
    scheduled_time: datetime | None = None,
) -> State:
    """Build a state, defaulting and checking its name against its type."""
    names = STATE_NAMES[state_type]
    chosen = name or names[0]
    if chosen not in names:
        allowed = ", ".join(names)
        raise ValueError(
            f"state name {chosen!r} is not valid for {state_type}; use one of {allowed}"
        )
    return State(
        type=state_type, name=chosen, timestamp=at, message=message, scheduled_time=scheduled_time
    )


def is_late(state: State, *, now: datetime) -> bool:
    """A run is Late when still SCHEDULED 15 s after its scheduled time."""
    if state.type is not StateType.SCHEDULED or state.scheduled_time is None:
        return False
    return now - state.scheduled_time >= LATE_AFTER
