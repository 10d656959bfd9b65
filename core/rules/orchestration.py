"""Which state changes a flow run may make, as small named rules.

Each rule looks at the run's current state and the proposed one and either
lets the change through or says why not (Prefect's orchestration policy,
reduced to what pushpool needs).  The store's conditional write stays the
final arbiter: a rule that passes here can still lose a race there.

``force`` skips the rules but never the limits: a run only starts holding
slots through the atomic claim, from SCHEDULED, whatever the caller says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from core.models import FlowRun
from core.states import SLOT_HOLDING, TERMINAL, State, StateType


class SetStateStatus(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"


class Route(StrEnum):
    """How an accepted change is written."""

    RECORD = "record"  # one record_state write
    CLAIM = "claim"  # the atomic claim (SCHEDULED -> PENDING)
    CLAIM_THEN_RECORD = "claim_then_record"  # claim, then e.g. RUNNING


@dataclass(frozen=True)
class Decision:
    status: SetStateStatus
    reason: str = ""
    state: State | None = None  # the state to write when accepted
    route: Route = Route.RECORD


Rule = Callable[[FlowRun, State], Decision | None]


def _refuse(status: SetStateStatus, reason: str) -> Decision:
    return Decision(status=status, reason=reason)


def finished_runs_stay_finished(run: FlowRun, state: State) -> Decision | None:
    if run.state.type in TERMINAL:
        return _refuse(
            SetStateStatus.ABORT,
            f"the run already ended in {run.state.type}; pass force=true to change a finished run",
        )
    return None


def only_scheduled_runs_are_claimed(run: FlowRun, state: State) -> Decision | None:
    if state.type is StateType.PENDING and run.state.type is not StateType.SCHEDULED:
        return _refuse(
            SetStateStatus.ABORT,
            f"the run is {run.state.type}, not SCHEDULED: another claim got it first",
        )
    return None


def cancelling_runs_only_end(run: FlowRun, state: State) -> Decision | None:
    if run.state.type is StateType.CANCELLING and state.type not in TERMINAL:
        return _refuse(
            SetStateStatus.ABORT,
            f"the run is being cancelled; it can only end (CANCELLED, FAILED, ...), "
            f"not become {state.type}",
        )
    return None


def no_repeated_running(run: FlowRun, state: State) -> Decision | None:
    if state.type is run.state.type and state.type is StateType.RUNNING:
        return _refuse(SetStateStatus.REJECT, "the run is already RUNNING")
    return None


RULES: tuple[Rule, ...] = (
    finished_runs_stay_finished,
    only_scheduled_runs_are_claimed,
    cancelling_runs_only_end,
    no_repeated_running,
)


def _route(run: FlowRun, state: State) -> Decision:
    """How to write an allowed change, keeping slots only ever taken by a claim."""
    current, proposed = run.state.type, state.type
    if proposed is StateType.SCHEDULED and may_be_running(run):
        # A new attempt while the old one may still run is two live attempts
        # of one run (issue 13): like a limit, ``force`` cannot pass this.
        where = f"as {run.infrastructure_pid} " if run.infrastructure_pid else ""
        return _refuse(
            SetStateStatus.ABORT,
            f"attempt {run.attempt} is {current} {where}and may still be running; cancel the "
            "run (its infrastructure is stopped) or let it end before scheduling it again",
        )
    if proposed is StateType.CANCELLING and current not in SLOT_HOLDING:
        # Nothing runs yet, so there is nothing to wait for: end it now.
        cancelled = State(
            type=StateType.CANCELLED,
            name="Cancelled",
            timestamp=state.timestamp,
            message=state.message,
        )
        return Decision(SetStateStatus.ACCEPT, state=cancelled)
    if proposed in SLOT_HOLDING and current not in SLOT_HOLDING:
        if current is not StateType.SCHEDULED:
            return _refuse(
                SetStateStatus.ABORT,
                f"a {current} run cannot start holding slots directly; "
                "set it to SCHEDULED first so a claim can admit it",
            )
        route = Route.CLAIM if proposed is StateType.PENDING else Route.CLAIM_THEN_RECORD
        return Decision(SetStateStatus.ACCEPT, state=state, route=route)
    return Decision(SetStateStatus.ACCEPT, state=state)


def may_be_running(run: FlowRun) -> bool:
    """True when infrastructure for the run's current attempt may be alive:
    it is RUNNING, or PENDING with its infrastructure already submitted."""
    kind = run.state.type
    return kind is StateType.RUNNING or (
        kind is StateType.PENDING and run.infrastructure_pid is not None
    )


def decide(run: FlowRun, state: State, *, force: bool = False) -> Decision:
    """Apply the rules in order; ``force`` overrides them (recorded in the
    state's message) but not the way slots are taken."""
    for rule in RULES:
        refusal = rule(run, state)
        if refusal is None:
            continue
        if not force:
            return refusal
        note = f"[forced past: {refusal.reason}]"
        message = f"{state.message} {note}" if state.message else note
        state = state.model_copy(update={"message": message})
        break
    return _route(run, state)
