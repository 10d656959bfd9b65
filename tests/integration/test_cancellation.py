"""Cancellation and the delegating tick: what the serverless path relies on.

``flow-run cancel`` moves a started run to CANCELLING and asks for a
dispatch pass; the pass (which alone holds the provider in the cloud) stops
the infrastructure; the provider's confirmation ends the run CANCELLED and
frees its slots.  The cloud's tick holds no provider at all: it asks the
dispatchers to poll and to stop instead.
"""

from __future__ import annotations

from datetime import timedelta

from core.services.context import Context
from core.services.dispatch import Dispatcher
from core.services.lifecycle import observe_active
from core.services.runs import cancel_run
from core.services.tick import (
    DelegatingTicker,
    DispatchRequest,
    StopRequest,
    Ticker,
)
from core.states import StateType, new_state
from providers.registry import REGISTRY
from tests.contract.builders import NOW, add_pool, add_run, new_id
from tests.integration.support import RecordingProvider, Triggers, provider_factory, token_for


class EventfulProvider(RecordingProvider):
    """A provider that reports through events (like ECS): polls are a fallback."""

    emits_events = True


def dispatcher(store, provider, clock, **kwargs) -> Dispatcher:
    return Dispatcher(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=provider_factory(provider),
        run_token=token_for,
        api_url="https://pushpool.example/api",
        **kwargs,
    )


def cancel(store, run_id, clock):
    run = store.get_run(run_id)
    return store.record_state(run, new_state(StateType.CANCELLING, at=clock()))


def test_a_pass_stops_a_cancelled_run_and_gives_its_slot_to_the_next_run(store, clock):
    provider = RecordingProvider()  # no events: its stop is confirmed by a poll at once
    pool, queue = add_pool(store, pool_type="ecs:push", limit=1)
    first = add_run(store, pool, queue, at=NOW)
    second = add_run(store, pool, queue, at=NOW + timedelta(seconds=1))
    clock.advance(seconds=2)
    dispatcher(store, provider, clock).dispatch(pool.name)
    cancel(store, first.id, clock)

    report = dispatcher(store, provider, clock).dispatch(pool.name)

    assert provider.cancelled == [f"infra-{first.id}-1"]
    assert store.get_run(first.id).state_type is StateType.CANCELLED
    assert [s.run_id for s in report.submitted] == [second.id]
    assert store.counters(pool.id).pool_active == 1


def test_an_event_provider_is_asked_to_stop_and_the_run_waits_for_its_event(store, clock):
    provider = EventfulProvider()
    pool, queue = add_pool(store, pool_type="ecs:push", limit=1)
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    cancel(store, run.id, clock)

    dispatcher(store, provider, clock).dispatch(pool.name)

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert store.get_run(run.id).state_type is StateType.CANCELLING
    assert store.counters(pool.id).pool_active == 1


def test_passes_that_do_not_look_after_active_runs_leave_cancellations_alone(store, clock):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    cancel(store, run.id, clock)

    # the cloud's passes for a message that only announces due work
    dispatcher(store, provider, clock).dispatch(pool.name, resume=False)

    assert provider.cancelled == []
    assert store.get_run(run.id).state_type is StateType.CANCELLING


def test_cancelling_a_started_run_asks_for_a_pass_over_its_pool(store, clock):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    triggers = Triggers()
    ctx = Context(store=store, clock=clock, ids=new_id, types=REGISTRY, trigger=triggers)

    result = cancel_run(ctx, run.id)

    assert result.run.state_type is StateType.CANCELLING
    assert triggers.requests == [(pool.name, None)]
    assert triggers.looked_after == [pool.name]  # the pass must stop its infrastructure


def test_a_delegating_tick_asks_the_dispatchers_to_poll_and_calls_no_provider(store, clock):
    provider = RecordingProvider()
    ecs_pool, ecs_queue = add_pool(store, pool_type="ecs:push")
    gcp_pool, gcp_queue = add_pool(store, pool_type="cloud-run-v2:push")
    idle_pool, _ = add_pool(store, pool_type="modal:push")
    for pool, queue in ((ecs_pool, ecs_queue), (gcp_pool, gcp_queue)):
        add_run(store, pool, queue)
        dispatcher(store, provider, clock).dispatch(pool.name)
    ticker = DelegatingTicker(store=store, clock=clock, pool_types=REGISTRY)

    report = ticker.tick()

    assert sorted(report.polls_wanted) == sorted([ecs_pool.name, gcp_pool.name])
    assert report.polls == ()
    assert idle_pool.name not in report.polls_wanted


def test_a_delegating_tick_asks_for_infrastructure_the_reaper_gave_up_on_to_be_stopped(
    store, clock
):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    clock.advance(minutes=11)  # past the 10-minute start timeout, never RUNNING
    ticker = DelegatingTicker(store=store, clock=clock, pool_types=REGISTRY)

    report = ticker.tick()

    assert store.get_run(run.id).state_type is StateType.CRASHED
    assert report.stops_wanted == (StopRequest(pool.name, f"infra-{run.id}-1"),)
    assert provider.cancelled == []


def test_a_pool_with_a_cancellation_to_carry_out_gets_a_pass_even_when_paused(store, clock):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    cancel(store, run.id, clock)
    store.update_pool(store.get_pool(pool.name).model_copy(update={"is_paused": True}))
    # the cloud's tick: the pool's dispatcher stops it
    ticker = DelegatingTicker(store=store, clock=clock, pool_types=REGISTRY)

    report = ticker.tick()

    assert DispatchRequest(pool.name, look_after=True) in report.dispatch


def test_a_tick_that_holds_the_provider_stops_a_cancellation_itself(store, clock):
    provider = RecordingProvider()  # no events: the stop is confirmed by a poll at once
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    cancel(store, run.id, clock)
    ticker = Ticker(
        store=store, clock=clock, pool_types=REGISTRY, provider_for=provider_factory(provider)
    )

    report = ticker.tick()

    assert provider.cancelled == [f"infra-{run.id}-1"]
    assert store.get_run(run.id).state_type is StateType.CANCELLED
    assert not [r for r in report.dispatch if r.look_after]


def test_polling_an_event_provider_asks_only_about_runs_no_event_moved_lately(store, clock):
    provider = EventfulProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    quiet = add_run(store, pool, queue)
    dispatcher(store, provider, clock).dispatch(pool.name)
    clock.advance(minutes=6)
    busy = add_run(store, pool, queue, at=clock())
    dispatcher(store, provider, clock).dispatch(pool.name)
    for run in (quiet, busy):
        provider.finish(f"infra-{run.id}-1")

    observation = observe_active(
        store, pool, provider, clock=clock, quiet_after=timedelta(minutes=5)
    )
    report = observation.poll
    assert report is not None

    assert [o.run_id for o in report.changed] == [quiet.id]
    assert store.get_run(busy.id).state_type is StateType.PENDING
