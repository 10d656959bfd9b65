"""The reaper: expired leases return, stuck submissions crash, drift is repaired."""

from __future__ import annotations

from datetime import timedelta

from core.services.admission import DEFAULT_LEASE
from core.services.reaper import DEFAULT_START_TIMEOUT, reap, start_timeout
from core.states import StateType, new_state
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, make_pool
from tests.integration.support import FakeClock, HookedStore


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
