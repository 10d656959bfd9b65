"""The late-run policy on a real store (both): backlogs after a pause or a tick
outage are run, thinned to the recent ones, or cut to the latest."""

from __future__ import annotations

from datetime import timedelta

from core.models import Schedule
from core.services.admission import preview
from core.services.context import Context
from core.services.polling import scheduled_runs
from core.states import StateType
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, make_deployment
from tests.integration.support import RecordingProvider
from tests.integration.test_dispatch import dispatcher
from tests.integration.test_tick import ticker

EVERY_10_MIN = Schedule(cron="*/10 * * * *")


def deploy(store, pool, *, late_runs=None):
    deployment = make_deployment(pool).model_copy(
        update={"schedules": (EVERY_10_MIN,), "late_runs": late_runs}
    )
    store.create_deployment(deployment)
    return deployment


def states(store, deployment):
    runs = sorted(
        store.list_runs(deployment_id=deployment.id), key=lambda r: r.next_scheduled_start_time
    )
    return [(r.next_scheduled_start_time - NOW, r.state.type, r.state.name) for r in runs]


def backlog_after_a_pause(store, *, pool_policy=None, deployment_policy=None):
    """A push pool paused for an hour while its deployment's schedule kept making runs."""
    clock = FakeClock()
    pool, _ = add_pool(store, pool_type="ecs:push", paused=True)
    store.update_pool(pool.model_copy(update={"late_runs": pool_policy}))
    deployment = deploy(store, pool, late_runs=deployment_policy)
    t = ticker(store, clock, horizon=timedelta(minutes=5))
    for _ in range(7):  # 12:00 ... 13:00, one tick every 10 minutes
        t.tick()
        clock.advance(minutes=10)
    clock.advance(minutes=-10, seconds=30)  # 13:00:30: the 13:00 run is due, not Late
    pool = store.get_pool(pool.name)
    store.update_pool(pool.model_copy(update={"is_paused": False}))
    return clock, pool, deployment


def test_by_default_the_whole_backlog_runs_as_today(store):
    clock, pool, deployment = backlog_after_a_pause(store)
    provider = RecordingProvider()

    dispatcher(store, provider, clock=clock).dispatch(pool.name)

    assert [s[1] for s in states(store, deployment)] == [StateType.PENDING] * 7


def test_skip_after_on_the_pool_skips_runs_later_than_the_limit_after_a_pause(store):
    clock, pool, deployment = backlog_after_a_pause(store, pool_policy="skip_after 25m")

    dispatcher(store, RecordingProvider(), clock=clock).dispatch(pool.name)

    got = states(store, deployment)
    kept = [delta for delta, kind, _ in got if kind is StateType.PENDING]
    skipped = [(delta, name) for delta, kind, name in got if kind is StateType.CANCELLED]
    assert kept == [timedelta(minutes=m) for m in (40, 50, 60)]
    assert skipped == [(timedelta(minutes=m), "Skipped") for m in (0, 10, 20, 30)]
    run = min(store.list_runs(deployment_id=deployment.id), key=lambda r: r.created)
    assert "late-run policy 'skip_after 25m'" in run.state.message
    assert "60 min late" in run.state.message
    assert store.counters(pool.id).pool_active == 3  # skipped runs hold no slot


def test_the_deployments_latest_only_overrides_the_pool_after_a_tick_outage(store):
    clock = FakeClock()
    pool, _ = add_pool(store, pool_type="ecs:push")
    store.update_pool(pool.model_copy(update={"late_runs": "skip_after 1d"}))
    deployment = deploy(store, pool, late_runs="latest_only")
    ticker(store, clock, horizon=timedelta(hours=1)).tick()  # runs made ahead, then no tick
    clock.advance(minutes=55)  # the tick and the dispatcher were down

    dispatcher(store, RecordingProvider(), clock=clock).dispatch(pool.name)

    got = states(store, deployment)
    assert [(d, k) for d, k, _ in got if k is StateType.PENDING] == [
        (timedelta(minutes=50), StateType.PENDING)
    ]
    assert [d for d, k, _ in got if k is StateType.CANCELLED] == [
        timedelta(minutes=m) for m in (0, 10, 20, 30, 40)
    ]
    skipped = [r for r in store.list_runs(deployment_id=deployment.id) if r.state.name == "Skipped"]
    assert all("latest_only" in r.state.message for r in skipped)
    assert all("12:50:00 UTC" in r.state.message for r in skipped)


def test_preview_shows_what_would_be_skipped_and_changes_nothing(store):
    clock, pool, deployment = backlog_after_a_pause(store, pool_policy="skip_after 25m")

    seen = preview(store, pool.name, clock=clock)

    assert len(seen.skipped) == 4
    assert all("skip_after 25m" in reason for reason in seen.reasons.values())
    assert {r.id for r in seen.plan.releases}.isdisjoint(seen.skipped)
    assert [s[1] for s in states(store, deployment)] == [StateType.SCHEDULED] * 7


def test_a_pull_pools_poll_ends_skipped_runs_and_never_offers_them(store):
    clock = FakeClock()
    pool, _ = add_pool(store, pool_type="process")
    store.update_pool(pool.model_copy(update={"late_runs": "latest_only"}))
    deployment = deploy(store, pool)
    ticker(store, clock, horizon=timedelta(minutes=30)).tick()
    clock.advance(minutes=25)
    ctx = Context(store=store, clock=clock, ids=lambda: "x", types=REGISTRY)

    offered = scheduled_runs(ctx, pool.name)

    assert [o.run.next_scheduled_start_time - NOW for o in offered] == [timedelta(minutes=20)]
    assert [k for _, k, _ in states(store, deployment)] == [
        StateType.CANCELLED,
        StateType.CANCELLED,
        StateType.SCHEDULED,
    ]


def test_while_the_pool_or_the_queue_is_paused_nothing_is_skipped_yet(store):
    clock = FakeClock()
    pool, queue = add_pool(store, pool_type="process", paused=True)
    store.update_pool(pool.model_copy(update={"late_runs": "latest_only"}))
    deployment = deploy(store, pool)
    ticker(store, clock, horizon=timedelta(minutes=30)).tick()
    clock.advance(minutes=25)
    ctx = Context(store=store, clock=clock, ids=lambda: "x", types=REGISTRY)

    assert scheduled_runs(ctx, pool.name) == []  # a worker polls the paused pool
    dispatcher_pass = dispatcher(store, RecordingProvider(), clock=clock)
    store.update_pool(store.get_pool(pool.name).model_copy(update={"is_paused": False}))
    store.update_queues([queue.model_copy(update={"is_paused": True})])
    scheduled_runs(ctx, pool.name)
    dispatcher_pass.dispatch(pool.name)
    assert [k for _, k, _ in states(store, deployment)] == [StateType.SCHEDULED] * 3

    store.update_queues(
        [store.get_queue(pool.id, queue.name).model_copy(update={"is_paused": False})]
    )
    scheduled_runs(ctx, pool.name)
    assert [k for _, k, _ in states(store, deployment)] == [
        StateType.CANCELLED,
        StateType.CANCELLED,
        StateType.SCHEDULED,
    ]
