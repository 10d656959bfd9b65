"""preview and admit on a real store: claims follow the waterfall, lost races re-plan."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict
from core.rules.waterfall import WaitReason
from core.services.admission import DEFAULT_LEASE, admit, preview
from core.states import StateType
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, scheduled, state
from tests.integration.support import HookedStore


def ids(runs):
    return [r.id for r in runs]


def test_admit_claims_in_waterfall_order_and_takes_slots(store):
    clock = FakeClock()
    pool, default = add_pool(store, limit=3)
    high = add_queue(store, pool, "high", priority=2, limit=1)
    low = add_queue(store, pool, "low", priority=3)
    d1 = add_run(store, pool, default, at=NOW - timedelta(minutes=1))
    h1 = add_run(store, pool, high, at=NOW - timedelta(minutes=9))
    add_run(store, pool, high, at=NOW - timedelta(minutes=8))
    l1 = add_run(store, pool, low, at=NOW - timedelta(minutes=30))
    add_run(store, pool, low, at=NOW - timedelta(minutes=20))

    result = admit(store, pool.name, clock=clock)

    assert ids(result.claimed) == [d1.id, h1.id, l1.id]
    for run in result.claimed:
        stored = store.get_run(run.id)
        assert stored.state_type is StateType.PENDING
        assert stored.lease_expires == NOW + DEFAULT_LEASE
    counters = store.counters(pool.id)
    assert counters.pool_active == 3
    assert counters.queue_active == {default.id: 1, high.id: 1, low.id: 1}
    assert result.waiting == 2


def test_a_second_admit_finds_nothing_new(store):
    clock = FakeClock()
    pool, queue = add_pool(store, limit=2)
    for _ in range(3):
        add_run(store, pool, queue)
    first = admit(store, pool.name, clock=clock)
    again = admit(store, pool.name, clock=clock)
    assert len(first.claimed) == 2
    assert again.claimed == ()
    assert store.counters(pool.id).pool_active == 2


def test_admit_records_the_pass_on_the_pool_and_its_unpaused_queues(store):
    clock = FakeClock()
    pool, default = add_pool(store)
    paused = add_queue(store, pool, "held", priority=2, paused=True)
    admit(store, pool.name, clock=clock)
    assert store.get_pool(pool.name).last_dispatched == NOW
    assert store.get_queue_by_id(default.id).last_polled == NOW
    assert store.get_queue_by_id(paused.id).last_polled is None


def test_busy_pools_do_not_rewrite_fresh_readiness_marks(store):
    clock = FakeClock()
    hooked = HookedStore(store)
    pool, _ = add_pool(store)
    admit(hooked, pool.name, clock=clock)
    clock.advance(seconds=29)
    admit(hooked, pool.name, clock=clock)
    assert (hooked.calls["record_dispatch"], hooked.calls["record_poll"]) == (1, 1)
    clock.advance(seconds=1)
    admit(hooked, pool.name, clock=clock)
    assert (hooked.calls["record_dispatch"], hooked.calls["record_poll"]) == (2, 2)
    assert store.get_pool(pool.name).last_dispatched == clock()


def test_paused_pool_admits_nothing(store):
    pool, queue = add_pool(store, paused=True)
    run = add_run(store, pool, queue)
    assert admit(store, pool.name, clock=FakeClock()).claimed == ()
    assert store.get_run(run.id).state_type is StateType.SCHEDULED


def test_admit_takes_runs_within_its_window_only(store):
    pool, queue = add_pool(store)
    soon = add_run(store, pool, queue, at=NOW + timedelta(seconds=1))
    later = add_run(store, pool, queue, at=NOW + timedelta(seconds=2))
    result = admit(store, pool.name, clock=FakeClock(), window=timedelta(seconds=1))
    assert ids(result.claimed) == [soon.id]
    assert store.get_run(later.id).state_type is StateType.SCHEDULED


def test_max_claims_bounds_one_pass(store):
    pool, queue = add_pool(store)
    for i in range(5):
        add_run(store, pool, queue, at=NOW - timedelta(seconds=i))
    result = admit(store, pool.name, clock=FakeClock(), max_claims=2)
    assert len(result.claimed) == 2
    assert len(store.list_due(pool.id, NOW)) == 3


def test_preview_reads_only_and_explains_every_waiting_run(store):
    clock = FakeClock()
    pool, default = add_pool(store, limit=1)
    held = add_queue(store, pool, "held", priority=2, paused=True)
    first = add_run(store, pool, default, at=NOW - timedelta(minutes=2))
    second = add_run(store, pool, default, at=NOW - timedelta(minutes=1))
    future = add_run(store, pool, default, at=NOW + timedelta(minutes=30))
    paused_run = add_run(store, pool, held, at=NOW - timedelta(minutes=5))

    result = preview(store, pool.name, clock=clock, horizon=timedelta(hours=1))

    assert ids(result.plan.releases) == [first.id]
    assert {w.run.id: w.reason for w in result.plan.waiting} == {
        second.id: WaitReason.POOL_FULL,
        future.id: WaitReason.NOT_YET_DUE,
        paused_run.id: WaitReason.QUEUE_PAUSED,
    }
    assert store.get_run(first.id).state_type is StateType.SCHEDULED
    assert store.counters(pool.id).pool_active == 0
    assert store.get_pool(pool.name).last_dispatched is None


# -- lost races ------------------------------------------------------------------------


def test_a_run_taken_by_a_competitor_is_replaced_after_a_re_plan(store):
    """The competitor claims and finishes run a between our read and our claim:
    our claim of a conflicts, the slot a freed goes to c on the re-plan."""
    hooked = HookedStore(store)
    pool, queue = add_pool(store, limit=2)
    a = add_run(store, pool, queue, at=NOW - timedelta(seconds=3))
    b = add_run(store, pool, queue, at=NOW - timedelta(seconds=2))
    c = add_run(store, pool, queue, at=NOW - timedelta(seconds=1))

    def competitor_takes_and_finishes_a(*args, **kwargs):
        taken = claim(store, store.get_run(a.id))
        store.record_state(taken, state(StateType.COMPLETED))

    hooked.before("claim", competitor_takes_and_finishes_a)
    result = admit(hooked, pool.name, clock=FakeClock())

    assert ids(result.claimed) == [b.id, c.id]
    assert (result.lost, result.replans) == (1, 1)
    assert store.counters(pool.id).pool_active == 2


def test_a_slot_taken_by_a_competitor_stops_the_pass_within_the_limit(store):
    hooked = HookedStore(store)
    pool, default = add_pool(store, limit=2)
    other = add_queue(store, pool, "other", priority=2)
    mine = [add_run(store, pool, default, at=NOW - timedelta(seconds=i)) for i in range(2)]
    theirs = [add_run(store, pool, other, at=NOW + timedelta(minutes=1)) for _ in range(2)]

    def competitor_fills_the_pool(*args, **kwargs):
        for run in theirs:
            claim(store, store.get_run(run.id))

    hooked.before("claim", competitor_fills_the_pool)
    result = admit(hooked, pool.name, clock=FakeClock())

    assert result.claimed == ()
    assert result.lost == 1
    assert {store.get_run(r.id).state_type for r in mine} == {StateType.SCHEDULED}
    assert store.counters(pool.id).pool_active == 2


def test_a_run_marked_late_meanwhile_is_claimed_on_the_re_plan(store):
    hooked = HookedStore(store)
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue, at=NOW - timedelta(minutes=1))

    def tick_marks_it_late(*args, **kwargs):
        current = store.get_run(run.id)
        late = scheduled(current.next_scheduled_start_time).model_copy(update={"name": "Late"})
        store.record_state(current, late)

    hooked.before("claim", tick_marks_it_late)
    result = admit(hooked, pool.name, clock=FakeClock())
    assert ids(result.claimed) == [run.id]
    assert store.get_run(run.id).state_history[-1].name == "Late"


def test_re_planning_is_bounded(store):
    hooked = HookedStore(store)
    pool, queue = add_pool(store)
    add_run(store, pool, queue)

    def always_lose(*args, **kwargs):
        raise Conflict("someone else was faster")

    hooked.before("claim", always_lose, sticky=True)
    result = admit(hooked, pool.name, clock=FakeClock(), max_replans=3)
    assert result.claimed == ()
    assert (result.lost, result.replans) == (4, 3)
    assert hooked.calls["claim"] == 4


@pytest.mark.parametrize("limit", [0, None])
def test_limits_of_zero_and_none(store, limit):
    pool, queue = add_pool(store, limit=limit)
    for _ in range(3):
        add_run(store, pool, queue)
    claimed = admit(store, pool.name, clock=FakeClock()).claimed
    assert len(claimed) == (0 if limit == 0 else 3)
