"""Dispatch passes on a real store with a recording provider: submit once, fail well."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import InfrastructureError
from core.services.context import Context
from core.services.dispatch import DEFAULT_RESUME_AFTER, Dispatcher, DispatchIncomplete
from core.services.pools import view
from core.states import StateType, new_state
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, make_deployment
from tests.integration.support import (
    Fault,
    HookedStore,
    RecordingProvider,
    provider_factory,
    token_for,
)

API_URL = "https://pushpool.example/api"


def dispatcher(store, provider, clock=None, **kwargs) -> Dispatcher:
    return Dispatcher(
        store=store,
        clock=clock or FakeClock(),
        pool_types=REGISTRY,
        provider_for=provider_factory(provider),
        run_token=token_for,
        api_url=API_URL,
        **kwargs,
    )


def push_pool(store, **kwargs):
    return add_pool(store, pool_type="ecs:push", **kwargs)


def test_a_pass_submits_admitted_runs_in_waterfall_order_and_records_them(store):
    provider = RecordingProvider()
    pool, default = push_pool(store, limit=2)
    urgent = add_queue(store, pool, "urgent", priority=2)
    late = add_run(store, pool, default, at=NOW - timedelta(minutes=5))
    first = add_run(store, pool, urgent, at=NOW - timedelta(minutes=1))
    add_run(store, pool, urgent, at=NOW)

    report = dispatcher(store, provider).dispatch(pool.name)

    assert [s.run_id for s in report.submitted] == [late.id, first.id]
    for sub in report.submitted:
        run = store.get_run(sub.run_id)
        assert run.state_type is StateType.PENDING
        assert run.infrastructure_pid == sub.infrastructure_pid == f"infra-{run.id}-1"
        assert run.lease_expires is None
        assert run.submitted_at == NOW
    request = provider.infras[f"infra-{late.id}-1"].request
    assert request["config"]["env"]["PUSHPOOL_RUN_TOKEN"] == f"token-{late.id}-1"
    assert request["config"]["env"]["PUSHPOOL_API_URL"] == API_URL
    assert provider.submit_calls == {f"{late.id}-1": 1, f"{first.id}-1": 1}


def test_duplicate_and_stale_messages_change_nothing(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store, limit=1)
    add_run(store, pool, queue)
    add_run(store, pool, queue)
    d = dispatcher(store, provider)

    d.dispatch(pool.name)
    again = d.dispatch(pool.name)

    assert again.submitted == ()
    assert sum(provider.submit_calls.values()) == 1
    assert d.dispatch("no-such-pool").skipped == "work pool no longer exists"


def test_pull_pools_are_left_to_their_workers(store):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="process")
    run = add_run(store, pool, queue)
    report = dispatcher(store, provider).dispatch(pool.name)
    assert "pulled" in report.skipped
    assert store.get_run(run.id).state_type is StateType.SCHEDULED
    assert provider.submit_calls == {}


def test_a_terminal_error_crashes_the_run_at_once_and_frees_its_slots(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store, limit=2)
    bad = add_run(store, pool, queue, at=NOW - timedelta(seconds=2))
    good = add_run(store, pool, queue, at=NOW - timedelta(seconds=1))
    provider.fail(bad.id, retryable=False)

    report = dispatcher(store, provider).dispatch(pool.name)

    crashed = store.get_run(bad.id)
    assert crashed.state_type is StateType.CRASHED
    assert crashed.state.message == "Submission failed: invalid subnet subnet-123"
    assert [s.run_id for s in report.submitted] == [good.id]
    assert store.counters(pool.id).pool_active == 1
    assert report.wants_another_pass  # the freed slot can admit another run now


def test_a_retryable_error_keeps_the_claim_and_the_retry_resumes_it_with_the_same_key(store):
    clock = FakeClock()
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    flaky = add_run(store, pool, queue, at=NOW - timedelta(seconds=2))
    fine = add_run(store, pool, queue, at=NOW - timedelta(seconds=1))
    provider.fail(flaky.id, retryable=True)
    d = dispatcher(store, provider, clock)

    with pytest.raises(DispatchIncomplete) as raised:
        d.dispatch(pool.name)

    assert raised.value.retryable
    assert [f.run_id for f in raised.value.report.retry] == [flaky.id]
    assert [s.run_id for s in raised.value.report.submitted] == [fine.id]
    held = store.get_run(flaky.id)
    assert (held.state_type, held.infrastructure_pid) == (StateType.PENDING, None)

    clock.advance(seconds=DEFAULT_RESUME_AFTER.total_seconds())
    retried = d.dispatch(pool.name)

    assert retried.resumed == 1
    assert store.get_run(flaky.id).infrastructure_pid == f"infra-{flaky.id}-1"
    assert provider.submit_calls[f"{flaky.id}-1"] == 2
    assert provider.infrastructures_per_run() == {flaky.id: 1, fine.id: 1}


def test_an_ambiguous_submit_is_resumed_onto_the_infrastructure_it_started(store):
    clock = FakeClock()
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = add_run(store, pool, queue)
    provider.fail(run.id, retryable=True, after_start=True)
    d = dispatcher(store, provider, clock)

    with pytest.raises(DispatchIncomplete):
        d.dispatch(pool.name)
    clock.advance(minutes=1)
    d.dispatch(pool.name)

    assert store.get_run(run.id).infrastructure_pid == f"infra-{run.id}-1"
    assert provider.infrastructures_per_run() == {run.id: 1}


def test_young_claims_are_not_resumed_under_their_claimant(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = claim(store, add_run(store, pool, queue))  # another dispatcher, mid-pass

    report = dispatcher(store, provider).dispatch(pool.name)

    assert report.resumed == 0
    assert provider.submit_calls == {}
    assert store.get_run(run.id).infrastructure_pid is None


def test_the_final_delivery_crashes_runs_that_still_fail(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = add_run(store, pool, queue)
    provider.fail(run.id, retryable=True)

    report = dispatcher(store, provider).dispatch(pool.name, final_attempt=True)

    crashed = store.get_run(run.id)
    assert crashed.state_type is StateType.CRASHED
    assert "kept failing: throttled" in crashed.state.message
    assert [f.retryable for f in report.crashed] == [True]
    assert store.counters(pool.id).pool_active == 0


def test_a_run_cancelled_during_its_submit_has_its_infrastructure_stopped(store):
    hooked = HookedStore(store)
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = add_run(store, pool, queue)

    def user_cancels(claimed, **kwargs):
        current = store.get_run(claimed.id)
        store.record_state(current, new_state(StateType.CANCELLING, at=NOW))

    hooked.before("mark_submitted", user_cancels)
    report = dispatcher(hooked, provider).dispatch(pool.name)

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert "cancelled while submitting" in report.submitted[0].note
    assert store.get_run(run.id).infrastructure_pid == f"infra-{run.id}-1"


def test_a_submit_recorded_after_the_reaper_gave_up_stops_the_orphan(store):
    hooked = HookedStore(store)
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = add_run(store, pool, queue)

    def reaper_returns_it(claimed, **kwargs):
        current = store.get_run(claimed.id)
        back = new_state(StateType.SCHEDULED, at=NOW, name="AwaitingRetry", scheduled_time=NOW)
        store.record_state(current, back)

    hooked.before("mark_submitted", reaper_returns_it)
    report = dispatcher(hooked, provider).dispatch(pool.name)

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert "not recorded" in report.submitted[0].note
    stored = store.get_run(run.id)
    assert (stored.state_type, stored.attempt, stored.infrastructure_pid) == (
        StateType.SCHEDULED,
        2,
        None,
    )


def test_a_run_whose_job_cannot_be_built_crashes_with_the_reason(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    template = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {
            "type": "object",
            "properties": {"image": {"type": "string"}},
            "required": ["image"],
        },
    }
    pool = store.update_pool(pool.model_copy(update={"base_job_template": template}))
    run = add_run(store, pool, queue)

    dispatcher(store, provider).dispatch(pool.name)

    crashed = store.get_run(run.id)
    assert crashed.state_type is StateType.CRASHED
    assert crashed.state.message.startswith("The job could not be built")
    assert "image" in crashed.state.message
    assert provider.submit_calls == {}


def test_a_run_of_a_deleted_deployment_crashes_instead_of_running_blind(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)
    run = add_run(store, pool, queue, deployment_id=deployment.id)
    store.delete_deployment(deployment)

    dispatcher(store, provider).dispatch(pool.name)

    crashed = store.get_run(run.id)
    assert crashed.state_type is StateType.CRASHED
    assert "no longer exists" in crashed.state.message


def test_claims_are_capped_per_pass_and_the_report_asks_for_more(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    for i in range(3):
        add_run(store, pool, queue, at=NOW - timedelta(seconds=i))
    report = dispatcher(store, provider, max_claims=2).dispatch(pool.name)
    assert len(report.submitted) == 2
    assert report.more and report.wants_another_pass


def test_a_pass_that_submits_nothing_makes_the_pool_not_ready_until_one_succeeds(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store, limit=5)
    first = add_run(store, pool, queue, at=NOW - timedelta(seconds=2))
    second = add_run(store, pool, queue, at=NOW - timedelta(seconds=1))
    provider.fail(first.id, retryable=False)
    provider.fail(second.id, retryable=False)
    ctx = Context(store=store, clock=FakeClock(), ids=lambda: "id", types=REGISTRY)

    dispatcher(store, provider).dispatch(pool.name)

    failing = view(ctx, store.get_pool(pool.name))
    assert failing.status.value == "NOT_READY"
    assert failing.status_reason is not None
    assert "invalid subnet subnet-123" in failing.status_reason

    dispatcher(store, provider).dispatch(pool.name)  # nothing to submit: no news
    assert view(ctx, store.get_pool(pool.name)).status.value == "NOT_READY"

    add_run(store, pool, queue, at=NOW)
    dispatcher(store, provider).dispatch(pool.name)

    healthy = view(ctx, store.get_pool(pool.name))
    assert (healthy.status.value, healthy.status_reason) == ("READY", None)


def test_one_bad_run_among_good_ones_leaves_the_pool_ready(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store, limit=5)
    bad = add_run(store, pool, queue, at=NOW - timedelta(seconds=2))
    add_run(store, pool, queue, at=NOW - timedelta(seconds=1))
    provider.fail(bad.id, retryable=False)

    dispatcher(store, provider).dispatch(pool.name)

    assert store.get_pool(pool.name).dispatch_problem is None


def test_a_huge_provider_error_is_stored_as_the_pools_problem_only_in_part(store):
    provider = RecordingProvider()
    pool, queue = push_pool(store)
    run = add_run(store, pool, queue)
    provider.faults[run.id].append(
        Fault(InfrastructureError("denied: " + "x" * 50_000, retryable=False), after_start=False)
    )

    dispatcher(store, provider).dispatch(pool.name)

    problem = store.get_pool(pool.name).dispatch_problem
    assert problem is not None and problem.startswith("denied: ") and len(problem) == 1000
