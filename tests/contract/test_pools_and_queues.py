"""Pools, queues and workers: the Store contract every adapter honours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict, NotFound
from core.states import StateType
from tests.contract.builders import (
    NOW,
    add_pool,
    add_queue,
    add_run,
    claim,
    make_pool,
    make_queue,
)


def test_created_pool_reads_back_by_name_and_id_with_its_default_queue(store):
    pool, queue = make_pool("etl", limit=3)
    store.create_pool(pool, queue)

    assert store.get_pool("etl") == pool
    assert store.get_pool_by_id(pool.id) == pool
    assert store.list_queues(pool.id) == [queue]
    assert store.get_queue(pool.id, "default") == queue
    assert store.get_queue_by_id(queue.id) == queue


def test_pool_names_are_unique(store):
    add_pool(store, "etl")
    pool, queue = make_pool("etl")

    with pytest.raises(Conflict, match="etl"):
        store.create_pool(pool, queue)
    with pytest.raises(NotFound):
        store.get_pool_by_id(pool.id)


def test_missing_pools_are_not_found(store):
    with pytest.raises(NotFound, match="nope"):
        store.get_pool("nope")
    with pytest.raises(NotFound):
        store.get_pool_by_id("nope")
    with pytest.raises(NotFound):
        store.counters("nope")


def test_pools_are_listed_by_name(store):
    for name in ("b", "c", "a"):
        add_pool(store, name)

    assert [p.name for p in store.list_pools()] == ["a", "b", "c"]


def test_update_pool_bumps_the_version_and_rejects_stale_writes(store):
    pool, _ = add_pool(store, "etl")

    updated = store.update_pool(pool.model_copy(update={"concurrency_limit": 5}))
    assert updated.version == pool.version + 1
    assert store.get_pool("etl") == updated

    with pytest.raises(Conflict, match="changed"):
        store.update_pool(pool.model_copy(update={"is_paused": True}))
    assert store.get_pool("etl").is_paused is False


def test_renaming_a_pool_onto_another_name_conflicts(store):
    add_pool(store, "a")
    b, _ = add_pool(store, "b")

    with pytest.raises(Conflict):
        store.update_pool(b.model_copy(update={"name": "a"}))
    renamed = store.update_pool(b.model_copy(update={"name": "c"}))
    assert store.get_pool("c") == renamed
    with pytest.raises(NotFound):
        store.get_pool("b")


def test_a_pool_read_by_name_again_follows_renames_deletions_and_new_pools(store):
    """A store may remember where a name pointed when last read (DynamoStore
    does); each answer is still the pool that has the name now."""
    first, _ = add_pool(store, "etl")
    assert store.get_pool("etl") == first

    renamed = store.update_pool(first.model_copy(update={"name": "old-etl"}))
    with pytest.raises(NotFound):
        store.get_pool("etl")
    assert store.get_pool("old-etl") == renamed

    second, _ = add_pool(store, "etl")
    assert store.get_pool("etl") == second
    store.delete_pool(second)
    with pytest.raises(NotFound):
        store.get_pool("etl")
    third, _ = add_pool(store, "etl")
    assert store.get_pool("etl") == third
    assert store.get_pool("old-etl") == renamed
    updated = store.update_pool(third.model_copy(update={"concurrency_limit": 2}))
    assert store.get_pool("etl") == updated


def test_updating_a_missing_pool_is_not_found(store):
    pool, _ = make_pool("ghost")
    with pytest.raises(NotFound):
        store.update_pool(pool)


def test_delete_pool_removes_its_queues_workers_and_scheduled_runs_only(store):
    pool, default = add_pool(store, "etl")
    other_pool, other_queue = add_pool(store, "other")
    extra = add_queue(store, pool, "extra", priority=2)
    store.heartbeat(pool.id, "w1", at=NOW, interval_seconds=30)
    waiting = add_run(store, pool, extra)
    running = claim(store, add_run(store, pool, default))
    elsewhere = add_run(store, other_pool, other_queue)

    store.delete_pool(pool)

    with pytest.raises(NotFound):
        store.get_pool("etl")
    for queue in (default, extra):
        with pytest.raises(NotFound):
            store.get_queue_by_id(queue.id)
    assert store.list_queues(pool.id) == []
    assert store.list_workers(pool.id) == []
    with pytest.raises(NotFound):
        store.get_run(waiting.id)
    assert store.get_run(running.id) == running  # active runs finish on their own
    assert store.get_run(elsewhere.id) == elsewhere
    assert store.get_pool("other") == other_pool
    with pytest.raises(NotFound):
        store.delete_pool(pool)


def test_dispatch_time_is_recorded_without_a_version_bump(store):
    pool, _ = add_pool(store, "push")

    store.record_dispatch(pool.id, NOW)

    stored = store.get_pool_by_id(pool.id)
    assert stored.last_dispatched == NOW
    assert stored.version == pool.version
    store.update_pool(stored)  # a poll or dispatch never makes an edit stale


# -- queues ---------------------------------------------------------------------


def test_queues_are_listed_by_priority(store):
    pool, default = add_pool(store)
    low = add_queue(store, pool, "low", priority=5, limit=2)
    high = add_queue(store, pool, "high", priority=2, paused=True)

    assert store.list_queues(pool.id) == [default, high, low]
    assert store.get_queue(pool.id, "low").concurrency_limit == 2
    assert store.get_queue(pool.id, "high").is_paused is True


def test_queue_names_are_unique_within_a_pool_only(store):
    pool, _ = add_pool(store)
    other, _ = add_pool(store)
    add_queue(store, pool, "high", priority=2)

    with pytest.raises(Conflict, match="high"):
        store.create_queue(make_queue(pool, "high", priority=3))
    assert add_queue(store, other, "high", priority=2).pool_id == other.id


def test_a_queue_needs_an_existing_pool(store):
    pool, _ = make_pool()
    with pytest.raises(NotFound):
        store.create_queue(make_queue(pool, "orphan", priority=2))


def test_missing_queues_are_not_found(store):
    pool, _ = add_pool(store)
    with pytest.raises(NotFound):
        store.get_queue(pool.id, "nope")
    with pytest.raises(NotFound):
        store.get_queue_by_id("nope")


def test_update_queues_writes_a_reshuffle_atomically(store):
    pool, default = add_pool(store)
    a = add_queue(store, pool, "a", priority=2)
    b = add_queue(store, pool, "b", priority=3)

    written = store.update_queues(
        [a.model_copy(update={"priority": 3}), b.model_copy(update={"priority": 4})]
    )

    assert [q.version for q in written] == [a.version + 1, b.version + 1]
    assert [(q.name, q.priority) for q in store.list_queues(pool.id)] == [
        ("default", 1),
        ("a", 3),
        ("b", 4),
    ]
    stale = [
        b.model_copy(update={"priority": 9}),  # stale version: the whole batch fails
        default.model_copy(update={"priority": 7}),
    ]
    with pytest.raises(Conflict):
        store.update_queues(stale)
    assert [(q.name, q.priority) for q in store.list_queues(pool.id)] == [
        ("default", 1),
        ("a", 3),
        ("b", 4),
    ]


def test_update_queues_rejects_a_duplicate_name_and_a_missing_queue(store):
    pool, _ = add_pool(store)
    a = add_queue(store, pool, "a", priority=2)
    add_queue(store, pool, "b", priority=3)

    with pytest.raises(Conflict):
        store.update_queues([a.model_copy(update={"name": "b"})])
    with pytest.raises(NotFound):
        store.update_queues([make_queue(pool, "ghost", priority=9)])
    assert store.get_queue_by_id(a.id) == a


def test_delete_queue_removes_it_with_its_scheduled_runs(store):
    pool, default = add_pool(store)
    extra = add_queue(store, pool, "extra", priority=2)
    waiting = add_run(store, pool, extra)
    active = claim(store, add_run(store, pool, extra))
    kept = add_run(store, pool, default)

    store.delete_queue(extra)

    assert store.list_queues(pool.id) == [default]
    with pytest.raises(NotFound):
        store.get_run(waiting.id)
    assert store.get_run(active.id) == active
    assert store.get_run(kept.id) == kept
    with pytest.raises(NotFound):
        store.delete_queue(extra)


def test_the_default_queue_cannot_be_deleted(store):
    pool, default = add_pool(store)

    with pytest.raises(Conflict, match="default"):
        store.delete_queue(default)
    assert store.list_queues(pool.id) == [default]


def test_polls_set_last_polled_on_the_named_queues_without_a_version_bump(store):
    pool, default = add_pool(store)
    a = add_queue(store, pool, "a", priority=2)
    b = add_queue(store, pool, "b", priority=3)

    store.record_poll(pool.id, [default.id, a.id], NOW)

    assert store.get_queue_by_id(default.id).last_polled == NOW
    assert store.get_queue_by_id(a.id) == a.model_copy(update={"last_polled": NOW})
    assert store.get_queue_by_id(b.id).last_polled is None
    store.update_queues([store.get_queue_by_id(a.id)])


# -- workers --------------------------------------------------------------------


def test_heartbeat_creates_then_refreshes_a_worker(store):
    pool, _ = add_pool(store)

    first = store.heartbeat(pool.id, "w1", at=NOW, interval_seconds=10)
    later = NOW + timedelta(seconds=10)
    second = store.heartbeat(pool.id, "w1", at=later, interval_seconds=None)

    assert first.created == NOW
    assert second.last_heartbeat_time == later
    assert second.created == NOW
    assert second.heartbeat_interval_seconds == 10  # kept when not resent
    assert store.list_workers(pool.id) == [second]


def test_workers_are_listed_most_recent_heartbeat_first_and_deleted_by_name(store):
    pool, _ = add_pool(store)
    other, _ = add_pool(store)
    store.heartbeat(pool.id, "old", at=NOW, interval_seconds=30)
    store.heartbeat(pool.id, "new", at=NOW + timedelta(seconds=5), interval_seconds=30)
    store.heartbeat(other.id, "elsewhere", at=NOW, interval_seconds=30)

    assert [w.name for w in store.list_workers(pool.id)] == ["new", "old"]

    store.delete_worker(pool.id, "old")
    assert [w.name for w in store.list_workers(pool.id)] == ["new"]
    with pytest.raises(NotFound):
        store.delete_worker(pool.id, "old")


def test_heartbeat_for_a_missing_pool_is_not_found(store):
    with pytest.raises(NotFound):
        store.heartbeat("nope", "w1", at=NOW, interval_seconds=30)


def test_deleted_pool_leaves_no_runs_behind_in_the_due_lists(store):
    pool, default = add_pool(store)
    add_run(store, pool, default)

    store.delete_pool(pool)

    assert store.list_due(pool.id, NOW) == []
    assert store.due_pools(NOW) == {}
    assert store.list_runs(pool_id=pool.id, state_types=[StateType.SCHEDULED]) == []


def test_a_dispatch_problem_is_recorded_cleared_and_kept_across_pool_edits(store):
    pool, _ = add_pool(store, "push")

    store.record_dispatch_problem(pool.id, "Cloud Run: could not submit: permission denied")
    stored = store.get_pool_by_id(pool.id)
    assert stored.dispatch_problem == "Cloud Run: could not submit: permission denied"
    assert stored.version == pool.version

    store.update_pool(pool.model_copy(update={"description": "edited from a stale read"}))
    edited = store.get_pool("push")
    assert edited.description == "edited from a stale read"
    assert edited.dispatch_problem == "Cloud Run: could not submit: permission denied"
    assert [p.dispatch_problem for p in store.list_pools() if p.id == pool.id] == [
        edited.dispatch_problem
    ]

    store.record_dispatch_problem(pool.id, None)
    assert store.get_pool_by_id(pool.id).dispatch_problem is None
    store.record_dispatch_problem("no-such-pool", "ignored")  # a deleted pool: nothing to mark
