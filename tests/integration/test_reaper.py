"""The reaper: expired leases return, stuck submissions crash, drift is repaired."""

from __future__ import annotations

from datetime import timedelta

from core.rules.timeouts import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_START_TIMEOUT,
    DEFAULT_SUBMIT_ATTEMPTS,
    heartbeat_timeout,
    start_timeout,
)
from core.services.admission import DEFAULT_LEASE
from core.services.reaper import reap
from core.states import StateType, new_state
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, make_pool
from tests.integration.support import HookedStore


def submitted(store, run, pid="infra-1"):
    return store.mark_submitted(run, infrastructure_pid=pid, at=NOW)


def test_a_claim_never_submitted_returns_to_scheduled_as_a_new_attempt_after_its_lease(store):
    clock = FakeClock()
    pool, queue = add_pool(store, limit=1)
    run = claim(store, add_run(store, pool, queue, at=NOW - timedelta(minutes=1)))

    clock.advance(seconds=DEFAULT_LEASE.total_seconds() - 1)
    assert reap(store, clock=clock).reaped == ()
    clock.advance(seconds=1)
    report = reap(store, clock=clock)

    back = store.get_run(run.id)
    assert (back.state_type, back.state.name, back.attempt) == (
        StateType.SCHEDULED,
        "AwaitingRetry",
        2,
    )
    assert back.next_scheduled_start_time == NOW - timedelta(minutes=1)  # keeps its place
    assert back.lease_expires is None
    assert store.counters(pool.id).pool_active == 0
    assert [(r.run_id, r.to, r.attempt) for r in report.reaped] == [
        (run.id, StateType.SCHEDULED, 1)
    ]
    assert report.released_pools == {pool.name}


def test_a_submitted_run_that_never_starts_crashes_after_the_start_timeout(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    stuck = submitted(store, claim(store, add_run(store, pool, queue)))
    running = claim(store, add_run(store, pool, queue))
    running = store.record_state(
        submitted(store, running, "infra-2"), new_state(StateType.RUNNING, at=NOW)
    )

    clock.advance(seconds=DEFAULT_START_TIMEOUT.total_seconds())
    reap(store, clock=clock)

    crashed = store.get_run(stuck.id)
    assert crashed.state_type is StateType.CRASHED
    assert "did not start within 600 s" in crashed.state.message
    assert store.get_run(running.id).state_type is StateType.RUNNING
    assert store.counters(pool.id).pool_active == 1


def test_a_cancelled_claim_with_nothing_submitted_ends_cancelled(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    store.record_state(run, new_state(StateType.CANCELLING, at=NOW))

    clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    reap(store, clock=clock)

    assert store.get_run(run.id).state_type is StateType.CANCELLED
    assert store.counters(pool.id).pool_active == 0


def test_the_reaper_repairs_counter_drift_and_reports_each_repair(store):
    pool, _ = add_pool(store, limit=5)
    extra = add_queue(store, pool, "extra", priority=2)
    claim(store, add_run(store, pool, extra))
    store.delete_queue(extra)
    store.create_queue(extra)  # same id, counter back at 0 while a run holds a slot

    report = reap(store, clock=FakeClock())

    assert [(r.queue_id, r.was, r.now) for r in report.repairs] == [(extra.id, 0, 1)]
    assert store.counters(pool.id).queue_active[extra.id] == 1
    assert reap(store, clock=FakeClock()).repairs == ()


def test_a_run_that_moved_meanwhile_is_left_to_whoever_moved_it(store):
    """The reaper read an expired claim, but the slow submitter records its
    infrastructure just before the reaper writes: the submitter wins."""
    clock = FakeClock()
    hooked = HookedStore(store)
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    clock.advance(seconds=DEFAULT_LEASE.total_seconds())

    def submitter_finishes(stale, state):
        store.mark_submitted(stale, infrastructure_pid="infra-1", at=clock())

    hooked.before("record_state", submitter_finishes)
    report = reap(hooked, clock=clock)

    assert report.reaped == ()
    kept = store.get_run(run.id)
    assert (kept.state_type, kept.infrastructure_pid, kept.attempt) == (
        StateType.PENDING,
        "infra-1",
        1,
    )


def test_start_timeout_comes_from_the_pools_template_or_defaults():
    pool, _ = make_pool()
    assert start_timeout(pool) == DEFAULT_START_TIMEOUT
    template = {
        "job_configuration": {},
        "variables": {"properties": {"task_start_timeout_seconds": {"default": 120}}},
    }
    assert start_timeout(pool.model_copy(update={"base_job_template": template})) == timedelta(
        seconds=120
    )


def claimed_by(store, run, worker, *, infra: str | None = None):
    owned = claim(store, run.model_copy(update={"worker_name": worker}))
    if infra is None:
        return owned
    return store.record_state(submitted(store, owned, infra), new_state(StateType.RUNNING, at=NOW))


def test_runs_of_a_worker_silent_past_the_heartbeat_timeout_crash_and_free_their_slots(store):
    """Issue 13, fault 1: a pull worker killed with ``kill -9`` held its slots
    forever, even with another worker of the pool alive."""
    clock = FakeClock()
    pool, queue = add_pool(store, limit=3)
    store.heartbeat(pool.id, "dead", at=NOW, interval_seconds=30)
    held = [
        claimed_by(store, add_run(store, pool, queue), "dead", infra="4242:1"),
        claimed_by(store, add_run(store, pool, queue), "dead"),  # claimed, not yet started
    ]
    alive = claimed_by(store, add_run(store, pool, queue), "alive", infra="4343:1")

    clock.advance(seconds=DEFAULT_HEARTBEAT_TIMEOUT.total_seconds())
    store.heartbeat(pool.id, "alive", at=clock(), interval_seconds=30)
    assert reap(store, clock=clock).reaped == ()  # not past the timeout yet
    clock.advance(seconds=1)
    store.heartbeat(pool.id, "alive", at=clock(), interval_seconds=30)
    report = reap(store, clock=clock)

    for run in held:
        ended = store.get_run(run.id)
        assert ended.state_type is StateType.CRASHED, ended.state
        assert "worker 'dead'" in ended.state.message and "90 s" in ended.state.message
    assert store.get_run(alive.id).state_type is StateType.RUNNING
    assert store.counters(pool.id).pool_active == 1
    assert {r.run_id for r in report.reaped} == {r.id for r in held}


def test_the_heartbeat_timeout_is_set_per_pool_in_its_template(store):
    clock = FakeClock()
    template = {"variables": {"properties": {"heartbeat_timeout_seconds": {"default": 3}}}}
    pool, queue = make_pool(limit=None)
    pool = pool.model_copy(update={"base_job_template": template})
    store.create_pool(pool, queue)
    assert heartbeat_timeout(pool) == timedelta(seconds=3)
    store.heartbeat(pool.id, "w", at=NOW, interval_seconds=1)
    run = claimed_by(store, add_run(store, pool, queue), "w", infra="1:1")
    clock.advance(seconds=4)
    reap(store, clock=clock)
    assert store.get_run(run.id).state_type is StateType.CRASHED
    assert store.counters(pool.id).pool_active == 0


def test_a_run_whose_claims_keep_expiring_crashes_after_the_pools_submit_attempts(store):
    """Issue 13, fault 4: the run was at attempt 3 after ten minutes, for good."""
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)
    for attempt in range(1, DEFAULT_SUBMIT_ATTEMPTS + 1):
        claimed = claim(store, store.get_run(run.id), at=clock())
        assert claimed.attempt == attempt
        clock.advance(seconds=DEFAULT_LEASE.total_seconds())
        reap(store, clock=clock)
    ended = store.get_run(run.id)
    assert ended.state_type is StateType.CRASHED
    assert f"Attempt 5 of {DEFAULT_SUBMIT_ATTEMPTS}" in ended.state.message
    assert store.counters(pool.id).pool_active == 0
