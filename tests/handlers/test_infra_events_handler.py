"""The infrastructure-events function on the sample "ECS Task State Change"
events: runs move, slots free and a dispatch follows; repeats change nothing."""

from __future__ import annotations

import pytest

import handlers.infra_events
from core.ports import Store
from core.states import StateType, new_state
from handlers.bootstrap import Settings, bootstrap
from tests.clock import FakeClock
from tests.contract.builders import LEASE
from tests.handlers.support import due_run, install, push_pool_with_deployment, sample
from tests.integration.support import Triggers

# The run, cluster and task the samples in tests/events/ecs_task_*.json are about.
RUN_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
INFRA_ID = (
    "arn:aws:ecs:us-east-1:111122223333:cluster/flows|"
    "arn:aws:ecs:us-east-1:111122223333:task/flows/0f9f2a8c5b6d4e7f8a9b0c1d2e3f4a5b"
)


@pytest.fixture
def triggers(monkeypatch, store, clock) -> Triggers:
    triggers = Triggers()
    container = bootstrap(
        store=store, clock=clock, trigger=triggers, settings=Settings(store_url="sqlite://")
    )
    install(monkeypatch, container)
    return triggers


def claimed(
    store: Store, clock: FakeClock, *, submitted: bool = True, waiting: bool = True
) -> None:
    """The sample events' run, claimed; ``waiting``: another run of its pool is due."""
    deployment = push_pool_with_deployment(store, "ecs:push", name="on-ecs", job_variables={})
    run = due_run(store, deployment, run_id=RUN_ID)
    pending = new_state(StateType.PENDING, at=clock())
    run = store.claim(run, state=pending, lease_expires=clock() + LEASE)
    if submitted:
        store.mark_submitted(run, infrastructure_pid=INFRA_ID, at=clock())
    if waiting:
        due_run(store, deployment)


def event(name: str) -> dict:
    return sample(f"ecs_task_{name}.json")


def test_a_task_walks_its_run_to_completion_and_the_freed_slot_is_dispatched(
    store, clock, triggers
):
    claimed(store, clock)

    for name in ("provisioning", "pending", "running"):
        handlers.infra_events.handler(event(name), None)
    assert store.get_run(RUN_ID).state.type is StateType.RUNNING
    assert triggers.requests == []

    answer = handlers.infra_events.handler(event("stopped_exit_0"), None)

    assert answer == {
        "applied": True,
        "run_id": RUN_ID,
        "state": "COMPLETED",
        "released_slot": True,
    }
    assert triggers.requests == [("on-ecs", None)]
    assert store.counters(store.get_pool("on-ecs").id).pool_active == 0


def test_a_freed_slot_no_due_run_waits_for_asks_for_no_dispatch_pass(store, clock, triggers):
    claimed(store, clock, waiting=False)
    deployment = store.get_deployment(store.get_run(RUN_ID).deployment_id or "")
    due_run(store, deployment, when=clock() + LEASE)  # due later: its own request wakes it

    answer = handlers.infra_events.handler(event("stopped_exit_0"), None)

    assert answer["released_slot"] is True
    assert triggers.requests == []


def test_repeated_and_late_events_change_nothing(store, clock, triggers):
    claimed(store, clock)
    handlers.infra_events.handler(event("stopped_exit_1"), None)
    before = store.get_run(RUN_ID)

    repeated = handlers.infra_events.handler(event("stopped_exit_1"), None)
    late = handlers.infra_events.handler(event("running"), None)

    assert repeated["applied"] is False and late["applied"] is False
    assert store.get_run(RUN_ID) == before
    assert before.state.type is StateType.FAILED
    assert triggers.requests == [("on-ecs", None)]


def test_an_event_that_overtakes_the_dispatcher_records_the_task_itself(store, clock, triggers):
    claimed(store, clock, submitted=False)

    handlers.infra_events.handler(event("running"), None)

    run = store.get_run(RUN_ID)
    assert (run.state.type, run.infrastructure_pid) == (StateType.RUNNING, INFRA_ID)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("stopped_image_pull", "CannotPullContainerError"), ("stopped_oom", "OutOfMemoryError")],
)
def test_tasks_that_could_not_run_crash_their_run_with_the_reason(
    name, reason, store, clock, triggers
):
    claimed(store, clock)

    handlers.infra_events.handler(event(name), None)

    state = store.get_run(RUN_ID).state
    assert state.type is StateType.CRASHED
    assert reason in state.message


def test_a_stopped_task_ends_a_cancelling_run_cancelled(store, clock, triggers):
    claimed(store, clock)
    run = store.get_run(RUN_ID)
    store.record_state(run, new_state(StateType.CANCELLING, at=clock()))

    handlers.infra_events.handler(event("stopped_user"), None)

    assert store.get_run(RUN_ID).state.type is StateType.CANCELLED
    assert triggers.requests == [("on-ecs", None)]


def test_tasks_pushpool_did_not_start_are_ignored(store, clock, triggers):
    answer = handlers.infra_events.handler(event("not_pushpool"), None)

    assert answer["applied"] is False
    assert triggers.requests == []
