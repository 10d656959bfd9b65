"""Creating, reading and listing flow runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import CapacityFull
from core.states import StateType
from tests.contract.builders import (
    NOW,
    add_pool,
    add_queue,
    add_run,
    claim,
    make_run,
    new_id,
    state,
)


def minutes(n: int):
    return NOW + timedelta(minutes=n)


def test_create_run_is_idempotent_on_the_run_id(store):
    pool, queue = add_pool(store)
    run = make_run(pool, queue, run_id="deployment-1-2026-01-01T12:00")

    assert store.create_run(run) is True
    assert store.create_run(run.model_copy(update={"name": "other"})) is False
    assert store.get_run(run.id) == run


def test_runs_keep_every_field(store):
    pool, queue = add_pool(store)
    run = make_run(pool, queue, deployment_id="dep-1").model_copy(
        update={"job_variables": {"env": {"A": "1"}, "cpu": 2}, "parameters": {"n": [1, 2]}}
    )
    store.create_run(run)

    assert store.get_run(run.id) == run


def test_a_run_created_in_a_slot_holding_state_takes_its_slots(store):
    pool, queue = add_pool(store, limit=1)
    running = make_run(pool, queue, state=state(StateType.RUNNING))

    assert store.create_run(running)
    assert store.counters(pool.id).pool_active == 1
    with pytest.raises(CapacityFull):
        store.create_run(make_run(pool, queue, state=state(StateType.PENDING)))
    assert store.create_run(make_run(pool, queue))  # SCHEDULED needs no slot


def test_list_due_returns_scheduled_runs_of_the_pool_due_by_then_oldest_first(store):
    pool, default = add_pool(store)
    other_queue = add_queue(store, pool, "other", priority=2, paused=True)
    other_pool, other_pool_queue = add_pool(store)
    later = add_run(store, pool, default, at=minutes(2))
    earlier = add_run(store, pool, other_queue, at=minutes(1))
    tie_a = add_run(store, pool, default, at=minutes(3), run_id="a" + new_id())
    tie_b = add_run(store, pool, default, at=minutes(3), run_id="b" + new_id())
    add_run(store, pool, default, at=minutes(4))  # not due yet
    claim(store, add_run(store, pool, default, at=minutes(0)))  # no longer SCHEDULED
    add_run(store, other_pool, other_pool_queue, at=minutes(0))  # another pool

    due = store.list_due(pool.id, minutes(3))

    assert due == [earlier, later, tie_a, tie_b]


def test_list_due_includes_late_and_awaiting_retry_runs(store):
    pool, queue = add_pool(store)
    late = store.record_state(
        add_run(store, pool, queue), state(StateType.SCHEDULED, name="Late", scheduled_time=NOW)
    )
    retry = store.record_state(
        add_run(store, pool, queue, at=minutes(-1)),
        state(StateType.SCHEDULED, name="AwaitingRetry", scheduled_time=minutes(1)),
    )

    assert store.list_due(pool.id, minutes(1)) == [late, retry]
    assert store.list_due(pool.id, NOW) == [late]


def test_has_due_sees_a_due_scheduled_run_in_any_queue_of_the_pool_only(store):
    pool, default = add_pool(store)
    other_queue = add_queue(store, pool, "other", priority=2)
    other_pool, other_pool_queue = add_pool(store)
    add_run(store, pool, default, at=minutes(4))  # due only from minute 4
    for _ in range(6):  # claimed runs are no longer due, however many sort first
        claim(store, add_run(store, pool, default, at=minutes(0)))
    add_run(store, other_pool, other_pool_queue, at=minutes(0))  # another pool

    assert not store.has_due(pool.id, minutes(3))
    assert store.has_due(pool.id, minutes(4))
    assert store.has_due(other_pool.id, minutes(0))

    add_run(store, pool, other_queue, at=minutes(1))  # the pool's second queue
    assert store.has_due(pool.id, minutes(1))


def test_has_due_is_false_for_an_empty_or_unknown_pool(store):
    pool, _ = add_pool(store)

    assert not store.has_due(pool.id, minutes(60))
    assert not store.has_due(new_id(), minutes(60))


def test_due_pools_names_each_pool_with_its_earliest_due_time(store):
    a, qa = add_pool(store)
    b, qb = add_pool(store)
    c, qc = add_pool(store)
    add_run(store, a, qa, at=minutes(5))
    add_run(store, a, qa, at=minutes(2))
    add_run(store, b, qb, at=minutes(4))
    add_run(store, c, qc, at=minutes(30))  # not due
    claim(store, add_run(store, c, qc, at=minutes(0)))  # not SCHEDULED

    assert store.due_pools(minutes(10)) == {a.id: minutes(2), b.id: minutes(4)}
    assert store.due_pools(minutes(-1)) == {}


def test_list_active_returns_slot_holding_runs(store):
    pool, queue = add_pool(store)
    other, other_queue = add_pool(store)
    pending = claim(store, add_run(store, pool, queue, at=minutes(1)))
    running = store.record_state(
        claim(store, add_run(store, pool, queue)), state(StateType.RUNNING)
    )
    cancelling = store.record_state(
        claim(store, add_run(store, other, other_queue)), state(StateType.CANCELLING)
    )
    store.record_state(claim(store, add_run(store, pool, queue)), state(StateType.COMPLETED))
    add_run(store, pool, queue)

    assert sorted(r.id for r in store.list_active(pool.id)) == sorted([pending.id, running.id])
    everywhere = {r.id: r for r in store.list_active()}
    assert everywhere == {r.id: r for r in (pending, running, cancelling)}


def test_list_runs_filters_and_orders_newest_scheduled_first(store):
    pool, default = add_pool(store)
    extra = add_queue(store, pool, "extra", priority=2)
    other, other_queue = add_pool(store)
    r1 = add_run(store, pool, default, at=minutes(1), deployment_id="d1")
    r2 = add_run(store, pool, extra, at=minutes(2), deployment_id="d1")
    r3 = claim(store, add_run(store, pool, extra, at=minutes(3), deployment_id="d2"))
    r4 = add_run(store, other, other_queue, at=minutes(4), deployment_id="d1")

    def ids(**filters):
        return [r.id for r in store.list_runs(**filters)]

    assert ids() == [r4.id, r3.id, r2.id, r1.id]
    assert ids(pool_id=pool.id) == [r3.id, r2.id, r1.id]
    assert ids(queue_ids=[extra.id]) == [r3.id, r2.id]
    assert ids(queue_ids=[extra.id, other_queue.id]) == [r4.id, r3.id, r2.id]
    assert ids(queue_ids=[]) == []
    assert ids(deployment_id="d1") == [r4.id, r2.id, r1.id]
    assert ids(state_types=[StateType.PENDING]) == [r3.id]
    assert ids(state_types=[StateType.SCHEDULED, StateType.PENDING], pool_id=pool.id) == [
        r3.id,
        r2.id,
        r1.id,
    ]
    assert ids(deployment_id="d1", pool_id=pool.id, queue_ids=[default.id]) == [r1.id]
    assert ids(limit=2) == [r4.id, r3.id]
    assert store.list_runs(pool_id=pool.id, limit=1) == [r3]
