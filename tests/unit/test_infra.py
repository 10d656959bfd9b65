"""Infrastructure reports -> run states: the exit mapping, duplicates, reordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from core.models import FlowRun
from core.ports import InfraPhase, InfraStatus
from core.rules.infra import next_state
from core.rules.runs import transition
from core.states import StateType, new_state

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
INFRA = "task-1"


def run_in(state_type: StateType, *, name: str | None = None, pid: str | None = INFRA) -> FlowRun:
    return FlowRun(
        id="r",
        name="r",
        flow_id="f",
        work_pool_id="p",
        work_pool_name="p",
        work_queue_id="q",
        work_queue_name="q",
        state=new_state(state_type, at=NOW - timedelta(minutes=1), name=name),
        next_scheduled_start_time=NOW,
        infrastructure_pid=pid,
        created=NOW,
        updated=NOW,
    )


def report(phase: InfraPhase, code: int | None = None, reason: str = "") -> InfraStatus:
    return InfraStatus(phase=phase, exit_code=code, reason=reason)


EXITED_0 = report(InfraPhase.EXITED, 0)


@pytest.mark.parametrize(
    "current, status, expected_type, expected_name, message",
    [
        (StateType.PENDING, report(InfraPhase.PENDING, reason="PROVISIONING"), StateType.PENDING, "InfrastructurePending", "PROVISIONING"),
        (StateType.PENDING, report(InfraPhase.RUNNING), StateType.RUNNING, "Running", ""),
        (StateType.RUNNING, EXITED_0, StateType.COMPLETED, "Completed", "code 0"),
        (StateType.RUNNING, report(InfraPhase.EXITED, 3), StateType.FAILED, "Failed", "exited with code 3"),
        (StateType.RUNNING, report(InfraPhase.EXITED, 137, "OutOfMemoryError"), StateType.FAILED, "Failed", "code 137: OutOfMemoryError"),
        (StateType.PENDING, report(InfraPhase.CRASHED, reason="CannotPullContainerError: no such image"), StateType.CRASHED, "Crashed", "CannotPullContainerError"),
        (StateType.RUNNING, report(InfraPhase.CRASHED), StateType.CRASHED, "Crashed", "Infrastructure crashed"),
        (StateType.RUNNING, report(InfraPhase.EXITED), StateType.CRASHED, "Crashed", "without an exit code"),
        (StateType.RUNNING, report(InfraPhase.CANCELLED, reason="stopped by user"), StateType.CRASHED, "Crashed", "outside pushpool: stopped by user"),
        (StateType.PENDING, EXITED_0, StateType.COMPLETED, "Completed", ""),
        (StateType.CANCELLING, report(InfraPhase.CANCELLED), StateType.CANCELLED, "Cancelled", "after cancellation"),
        (StateType.CANCELLING, report(InfraPhase.EXITED, 143), StateType.CANCELLED, "Cancelled", ""),
    ],
)  # fmt: skip
def test_reports_move_active_runs(current, status, expected_type, expected_name, message):
    state = next_state(run_in(current), status, now=NOW, infra_id=INFRA)
    assert state is not None
    assert (state.type, state.name, state.timestamp) == (expected_type, expected_name, NOW)
    assert message in state.message


@pytest.mark.parametrize(
    "final", [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
)
@pytest.mark.parametrize(
    "status",
    [
        EXITED_0,
        report(InfraPhase.EXITED, 1),
        report(InfraPhase.CRASHED),
        report(InfraPhase.RUNNING),
    ],
)
def test_a_terminal_run_is_never_moved(final, status):
    """Exit 0 after the run reported FAILED itself keeps FAILED, and so on."""
    assert next_state(run_in(final), status, now=NOW, infra_id=INFRA) is None


@pytest.mark.parametrize(
    "current, name, status",
    [
        (StateType.RUNNING, None, report(InfraPhase.PENDING)),  # backwards
        (StateType.RUNNING, None, report(InfraPhase.RUNNING)),  # duplicate
        (StateType.PENDING, "InfrastructurePending", report(InfraPhase.PENDING)),  # duplicate
        (StateType.CANCELLING, None, report(InfraPhase.RUNNING)),  # still stopping
        (StateType.SCHEDULED, None, report(InfraPhase.RUNNING)),  # nothing submitted
        (StateType.PAUSED, None, EXITED_0),
    ],
)
def test_duplicate_backward_and_irrelevant_reports_change_nothing(current, name, status):
    assert next_state(run_in(current, name=name), status, now=NOW, infra_id=INFRA) is None


def test_reports_about_another_attempts_infrastructure_are_ignored():
    running = run_in(StateType.RUNNING)
    assert next_state(running, EXITED_0, now=NOW, infra_id="old-task") is None
    unsubmitted = run_in(StateType.PENDING, pid=None)
    assert next_state(unsubmitted, report(InfraPhase.RUNNING), now=NOW, infra_id=INFRA) is None


def test_any_order_of_a_lifecycle_ends_in_the_same_final_state():
    """Events PENDING, RUNNING, STOPPED(0) delivered in every order and twice."""
    events = [report(InfraPhase.PENDING), report(InfraPhase.RUNNING), EXITED_0]
    for order in permutations(events * 2):
        run = run_in(StateType.PENDING)
        seen: list[StateType] = []
        for event in order:
            state = next_state(run, event, now=NOW, infra_id=INFRA)
            if state is not None:
                run = transition(run, state)
                seen.append(state.type)
        assert run.state.type is StateType.COMPLETED
        assert seen.count(StateType.COMPLETED) == 1
        # Never backwards: once RUNNING, never PENDING again.
        if StateType.RUNNING in seen:
            assert StateType.PENDING not in seen[seen.index(StateType.RUNNING) :]
