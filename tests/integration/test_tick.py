"""The tick: schedules become runs once, Late is marked, pools get dispatch messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import Schedule
from core.rules.schedules import scheduled_run_id
from core.services.admission import DEFAULT_LEASE
from core.services.materialise import schedule_runs
from core.services.tick import DispatchRequest, Ticker, TickSettings, ceil_second
from core.states import StateType, new_state
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_run, claim, make_deployment
from tests.integration.support import RecordingProvider, provider_factory

EVERY_10_MIN = Schedule(cron="*/10 * * * *")


def ticker(store, clock=None, provider=None, **settings) -> Ticker:
    return Ticker(
        store=store,
        clock=clock or FakeClock(),
        pool_types=REGISTRY,
        provider_for=provider_factory(provider or RecordingProvider()),
        settings=TickSettings(**settings),
    )


def deploy(store, pool, *schedules, **changes):
    deployment = make_deployment(pool, name=f"d-{len(store.list_deployments())}")
    deployment = deployment.model_copy(update={"schedules": schedules, **changes})
    store.create_deployment(deployment)
    return deployment


# -- schedules ---------------------------------------------------------------------------


def test_schedules_become_runs_within_the_horizon_and_a_repeated_tick_creates_none(store):
    pool, queue = add_pool(store, pool_type="ecs:push")
    deployment = deploy(store, pool, EVERY_10_MIN)
    t = ticker(store)

    first = t.tick()
    again = t.tick()

    expected = [NOW + timedelta(minutes=10 * i) for i in range(6)]
    assert first.created == tuple(scheduled_run_id(deployment.id, at) for at in expected)
    assert again.created == ()
    runs = sorted(store.list_runs(deployment_id=deployment.id), key=lambda r: r.id)
    assert len(runs) == 6
    for run in runs:
        assert run.state_type is StateType.SCHEDULED
        assert run.state.scheduled_time == run.next_scheduled_start_time
        assert (run.work_pool_id, run.work_queue_id) == (pool.id, queue.id)


def test_a_later_tick_adds_only_the_new_occurrences(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    deploy(store, pool, EVERY_10_MIN)
    t = ticker(store, clock, extend_within=timedelta(hours=1))  # refill every tick
    t.tick()
    clock.advance(minutes=10)
    assert len(t.tick().created) == 1


def test_a_schedule_is_extended_in_batches_once_its_runs_end_within_half_the_horizon(store):
    """Issue 16: one deployment write per few runs, not per run."""
    clock = FakeClock()
    pool, _ = add_pool(store)
    deployment = deploy(store, pool, EVERY_10_MIN)
    t = ticker(store, clock)
    t.tick()  # NOW .. NOW+50 min
    clock.advance(minutes=20)
    assert t.tick().created == ()  # NOW+60 is 40 min away: not yet
    clock.advance(minutes=11)
    later = [NOW + timedelta(minutes=m) for m in (60, 70, 80, 90)]
    assert t.tick().created == tuple(scheduled_run_id(deployment.id, at) for at in later)


def test_the_api_can_schedule_a_new_deployment_at_once_and_the_tick_agrees(store):
    pool, _ = add_pool(store)
    deployment = deploy(store, pool, EVERY_10_MIN)
    created = schedule_runs(store, deployment, now=NOW, horizon=timedelta(minutes=30))
    assert len(created) == 3
    assert len(ticker(store).tick().created) == 3  # the rest of the hour, nothing twice
    assert schedule_runs(store, deployment.model_copy(update={"paused": True}), now=NOW) == []


def test_runs_per_deployment_are_bounded(store):
    pool, _ = add_pool(store)
    deploy(store, pool, Schedule(interval=60))
    assert len(ticker(store, max_runs_per_deployment=3).tick().created) == 3


def test_paused_deployments_and_inactive_schedules_make_no_runs(store):
    pool, _ = add_pool(store)
    deploy(store, pool, EVERY_10_MIN, paused=True)
    deploy(store, pool, Schedule(cron="*/10 * * * *", active=False))
    assert ticker(store).tick().created == ()


def test_a_paused_pool_keeps_getting_runs_that_wait(store):
    pool, _ = add_pool(store, paused=True, pool_type="ecs:push")
    deploy(store, pool, EVERY_10_MIN)
    report = ticker(store).tick()
    assert len(report.created) == 6
    assert report.dispatch == ()  # unpausing triggers the dispatch


def test_a_deployment_whose_pool_is_gone_is_reported_and_others_continue(store):
    pool, _ = add_pool(store)
    deploy(store, pool, EVERY_10_MIN, work_pool_name="deleted-pool")
    deploy(store, pool, EVERY_10_MIN)
    report = ticker(store).tick()
    assert len(report.created) == 6
    assert len(report.errors) == 1
    assert "deleted-pool" in report.errors[0]


# -- Late ------------------------------------------------------------------------------------


def test_runs_still_scheduled_15_seconds_after_their_time_are_marked_late(store):
    pool, queue = add_pool(store, pool_type="process")
    late = add_run(store, pool, queue, at=NOW - timedelta(seconds=15))
    fresh = add_run(store, pool, queue, at=NOW - timedelta(seconds=14))
    retry_state = new_state(
        StateType.SCHEDULED, at=NOW, name="AwaitingRetry", scheduled_time=NOW - timedelta(hours=1)
    )
    retrying = add_run(store, pool, queue, at=NOW - timedelta(hours=1), state=retry_state)

    report = ticker(store).tick()

    assert report.late == 1
    marked = store.get_run(late.id)
    assert (marked.state_type, marked.state.name) == (StateType.SCHEDULED, "Late")
    assert marked.next_scheduled_start_time == late.next_scheduled_start_time
    assert store.get_run(fresh.id).state.name == "Scheduled"
    assert store.get_run(retrying.id).state.name == "AwaitingRetry"
    assert ticker(store).tick().late == 0


class CountingDueReads:
    """The store, counting its ``due_pools`` reads (one query per index shard on DynamoDB)."""

    def __init__(self, store):
        self._store = store
        self.due_reads = []

    def due_pools(self, before):
        self.due_reads.append(before)
        return self._store.due_pools(before)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_one_read_of_the_due_index_serves_late_marking_and_dispatch(store):
    soon, soon_queue = add_pool(store, pool_type="ecs:push")
    waiting = add_run(store, soon, soon_queue, at=NOW + timedelta(seconds=30))
    behind, behind_queue = add_pool(store, pool_type="ecs:push")
    late = add_run(store, behind, behind_queue, at=NOW - timedelta(minutes=2))
    counting = CountingDueReads(store)

    report = ticker(counting).tick()

    assert counting.due_reads == [NOW + TickSettings().dispatch_horizon]
    assert report.late == 1
    assert store.get_run(late.id).state.name == "Late"
    assert store.get_run(waiting.id).state.name == "Scheduled"  # due later: not Late
    assert DispatchRequest(behind.name) in report.dispatch
    assert DispatchRequest(soon.name, not_before=NOW + timedelta(seconds=30)) in report.dispatch


# -- dispatch messages ------------------------------------------------------------------------


def test_due_push_pools_get_a_message_now_and_one_per_second_for_runs_due_before_the_next_tick(
    store,
):
    push, push_queue = add_pool(store, pool_type="ecs:push")
    for offset in (-30, 10.4, 10.7, 30, 120):
        add_run(store, push, push_queue, at=NOW + timedelta(seconds=offset))
    pull, pull_queue = add_pool(store, pool_type="process")
    add_run(store, pull, pull_queue)
    paused, paused_queue = add_pool(store, pool_type="ecs:push", paused=True)
    add_run(store, paused, paused_queue)

    report = ticker(store).tick()

    assert report.dispatch == (
        DispatchRequest(push.name),
        DispatchRequest(push.name, not_before=NOW + timedelta(seconds=11)),
        DispatchRequest(push.name, not_before=NOW + timedelta(seconds=30)),
    )


def test_a_reaped_claim_is_due_again_and_its_pool_is_dispatched(store):
    clock = FakeClock()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = claim(store, add_run(store, pool, queue))
    clock.advance(minutes=5)

    report = ticker(store, clock).tick()

    assert [r.run_id for r in report.reap.reaped] == [run.id]
    assert store.get_run(run.id).attempt == 2
    assert DispatchRequest(pool.name) in report.dispatch


# -- polls ---------------------------------------------------------------------------------------


def submitted(store, provider, pool, queue):
    run = claim(store, add_run(store, pool, queue))
    infra = provider.submit({"run_id": run.id, "attempt": 1}, idempotency_key=f"{run.id}-1")
    return store.mark_submitted(run, infrastructure_pid=infra, at=NOW)


def test_providers_without_events_are_polled_and_exits_applied(store):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="cloud-run-v2:push")
    run = submitted(store, provider, pool, queue)
    provider.finish(run.infrastructure_pid, exit_code=0)

    report = ticker(store, provider=provider).tick()

    assert store.get_run(run.id).state_type is StateType.COMPLETED
    assert [p.checked for p in report.polls] == [1]


def test_event_providers_are_polled_only_for_runs_quiet_for_a_while(store):
    clock = FakeClock()
    provider = RecordingProvider()
    provider.emits_events = True
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = submitted(store, provider, pool, queue)
    provider.finish(run.infrastructure_pid, exit_code=1)
    t = ticker(store, clock, provider)

    t.tick()
    assert store.get_run(run.id).state_type is StateType.PENDING  # its event will come
    clock.advance(minutes=6)  # past the quiet period
    t.tick()
    assert store.get_run(run.id).state_type is StateType.FAILED  # the event was lost


def test_infrastructure_that_never_started_is_stopped_when_its_run_crashes(store):
    clock = FakeClock()
    provider = RecordingProvider()
    provider.supports_polling = False
    pool, queue = add_pool(store, pool_type="modal:push")
    run = submitted(store, provider, pool, queue)
    clock.advance(minutes=10)

    report = ticker(store, clock, provider).tick()

    assert store.get_run(run.id).state_type is StateType.CRASHED
    assert provider.cancelled == [run.infrastructure_pid]
    assert report.reap.reaped[0].note == f"stopped {run.infrastructure_pid}"


def test_pull_pools_are_not_polled(store):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="process")
    run = submitted(store, provider, pool, queue)
    provider.finish(run.infrastructure_pid)
    assert ticker(store, provider=provider).tick().polls == ()
    assert store.get_run(run.id).state_type is StateType.PENDING


# -- small parts -----------------------------------------------------------------------------------


def test_dispatch_delays_are_whole_seconds_up_to_sqs_limit():
    assert ceil_second(NOW + timedelta(seconds=1.2)) == NOW + timedelta(seconds=2)
    assert ceil_second(NOW) == NOW
    with pytest.raises(ValueError, match="15 minutes"):
        TickSettings(dispatch_horizon=timedelta(minutes=16))


@pytest.mark.parametrize("paused", [False, True])
def test_stalled_claims_get_a_dispatch_to_resume_them_long_before_their_lease_ends(store, paused):
    clock = FakeClock()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = claim(store, add_run(store, pool, queue))  # its dispatcher died after the claim
    if paused:
        pool = store.update_pool(store.get_pool(pool.name).model_copy(update={"is_paused": True}))
    t = ticker(store, clock)

    assert t.tick().dispatch == ()  # young: its dispatcher may still be working
    clock.advance(seconds=30)
    report = t.tick()

    assert report.reap.stalled_pools == {pool.name}
    assert report.dispatch == (DispatchRequest(pool.name, look_after=True),)
    assert store.get_run(run.id).attempt == 1  # resumed, not requeued


def test_scheduled_runs_are_named_on_their_schedules_wall_clock(store):
    pool, _ = add_pool(store)
    noon_paris = Schedule(cron="0 12 * * *", timezone="Europe/Paris")
    deployment = deploy(store, pool, noon_paris)

    schedule_runs(store, deployment, now=NOW, horizon=timedelta(days=2))

    names = sorted(r.name for r in store.list_runs(deployment_id=deployment.id))
    assert len(names) == 2
    assert all(name.endswith("-120000") for name in names), names
    for run in store.list_runs(deployment_id=deployment.id):
        assert run.next_scheduled_start_time.hour == 11  # 12:00 Paris is 11:00 UTC in winter


def test_a_schedule_that_cannot_be_evaluated_is_reported_and_the_others_still_run(store):
    """Issue 13, fault 3: one stored ``interval: 1e300`` raised OverflowError out of
    every tick, so no deployment got runs and nothing was reaped."""
    pool, _ = add_pool(store)
    broken = deploy(store, pool, Schedule(interval=1e300))
    healthy = deploy(store, pool, EVERY_10_MIN)
    report = ticker(store).tick()
    assert len(report.created) == 6
    assert {r.deployment_id for r in store.list_runs()} == {healthy.id}
    assert len(report.errors) == 1 and broken.name in report.errors[0]
    assert "OverflowError" in report.errors[0]


def test_a_pool_the_reaper_cannot_handle_is_reported_and_the_others_are_reaped(store):
    """Issue 13: the tick contains failures per pool."""
    clock = FakeClock()
    broken, _ = add_pool(store, name="broken")
    pool, queue = add_pool(store, name="fine")
    stuck = claim(store, add_run(store, pool, queue))
    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    original = store.list_active

    def list_active(pool_id=None):
        if pool_id in (broken.id, None):
            raise KeyError("a malformed item")
        return original(pool_id)

    store.list_active = list_active
    report = ticker(store, clock).tick()
    assert store.get_run(stuck.id).state_type is StateType.SCHEDULED
    assert any("broken" in e and "KeyError" in e for e in report.errors), report.errors
