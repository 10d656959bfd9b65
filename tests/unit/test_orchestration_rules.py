"""The state rules as a table: current state x proposed state -> answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.models import FlowRun
from core.rules.orchestration import Route, SetStateStatus, decide
from core.states import StateType, new_state

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S = StateType


def run_in(state_type: StateType) -> FlowRun:
    return FlowRun(
        id="r", name="r", flow_id="f", work_pool_id="p", work_pool_name="p",
        work_queue_id="q", work_queue_name="q", next_scheduled_start_time=NOW,
        state=new_state(state_type, at=NOW, scheduled_time=NOW if state_type is S.SCHEDULED else None),
        created=NOW, updated=NOW,
    )  # fmt: skip


def propose(current: StateType, proposed: StateType, *, force: bool = False):
    return decide(run_in(current), new_state(proposed, at=NOW), force=force)


@pytest.mark.parametrize(
    ("current", "proposed", "status", "route"),
    [
        (S.SCHEDULED, S.PENDING, SetStateStatus.ACCEPT, Route.CLAIM),
        (S.SCHEDULED, S.RUNNING, SetStateStatus.ACCEPT, Route.CLAIM_THEN_RECORD),
        (S.PENDING, S.PENDING, SetStateStatus.ABORT, None),
        (S.RUNNING, S.PENDING, SetStateStatus.ABORT, None),
        (S.PENDING, S.RUNNING, SetStateStatus.ACCEPT, Route.RECORD),
        (S.RUNNING, S.RUNNING, SetStateStatus.REJECT, None),
        (S.RUNNING, S.COMPLETED, SetStateStatus.ACCEPT, Route.RECORD),
        (S.PENDING, S.SCHEDULED, SetStateStatus.ACCEPT, Route.RECORD),
        (S.RUNNING, S.SCHEDULED, SetStateStatus.ABORT, None),
        (S.COMPLETED, S.RUNNING, SetStateStatus.ABORT, None),
        (S.FAILED, S.SCHEDULED, SetStateStatus.ABORT, None),
        (S.CANCELLING, S.RUNNING, SetStateStatus.ABORT, None),
        (S.CANCELLING, S.CANCELLED, SetStateStatus.ACCEPT, Route.RECORD),
    ],
)
def test_the_rules(current, proposed, status, route):
    decision = propose(current, proposed)
    assert decision.status is status
    if route is not None:
        assert decision.route is route


def test_cancelling_something_not_started_ends_it_at_once():
    decision = propose(S.SCHEDULED, S.CANCELLING)
    assert decision.status is SetStateStatus.ACCEPT
    assert decision.state is not None and decision.state.type is S.CANCELLED


def test_force_overrides_a_rule_and_says_so():
    decision = propose(S.FAILED, S.SCHEDULED, force=True)
    assert decision.status is SetStateStatus.ACCEPT
    assert decision.state is not None and "forced past" in decision.state.message


@pytest.mark.parametrize("current", [S.COMPLETED, S.FAILED, S.CANCELLED, S.PAUSED])
@pytest.mark.parametrize("proposed", [S.PENDING, S.RUNNING])
def test_force_never_takes_slots_except_through_a_claim(current, proposed):
    decision = propose(current, proposed, force=True)
    assert decision.status is SetStateStatus.ABORT
    assert "SCHEDULED" in decision.reason


@pytest.mark.parametrize("force", [False, True])
def test_a_run_whose_infrastructure_may_run_never_goes_back_to_scheduled(force):
    """Issue 13, fault 2: a second attempt must not start beside the first."""
    submitted = run_in(S.PENDING).model_copy(update={"infrastructure_pid": "proc-1"})
    for run in (run_in(S.RUNNING), submitted):
        decision = decide(run, new_state(S.SCHEDULED, at=NOW), force=force)
        assert decision.status is SetStateStatus.ABORT
        assert "cancel" in decision.reason
