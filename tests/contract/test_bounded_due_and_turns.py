"""The reads and writes a dispatcher pass needs to be alone and bounded:
``list_due`` of one queue with a limit, and the pool's dispatch turn."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import NotFound
from core.ports import Again
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, new_id


def minutes(n: float):  # type: ignore[no-untyped-def]
    return NOW + timedelta(minutes=n)


# -- list_due(queue_id=..., limit=...) ----------------------------------------------


def test_list_due_of_one_queue_returns_its_first_due_runs_in_time_then_id_order(store):
    pool, default = add_pool(store)
    other = add_queue(store, pool, "other", priority=2)
    tie_b = add_run(store, pool, default, at=minutes(1), run_id="b" + new_id())
    tie_a = add_run(store, pool, default, at=minutes(1), run_id="a" + new_id())
    first = add_run(store, pool, default, at=minutes(0))
    last = add_run(store, pool, default, at=minutes(2))
    add_run(store, pool, default, at=minutes(9))  # not due
    add_run(store, pool, other, at=minutes(-5))  # another queue
    claim(store, add_run(store, pool, default, at=minutes(-9)))  # no longer SCHEDULED

    assert store.list_due(pool.id, minutes(5), queue_id=default.id) == [first, tie_a, tie_b, last]
    assert store.list_due(pool.id, minutes(5), queue_id=default.id, limit=2) == [first, tie_a]
    assert store.list_due(pool.id, minutes(5), queue_id=default.id, limit=3) == [
        first,
        tie_a,
        tie_b,
    ]
    assert store.list_due(pool.id, minutes(1), queue_id=default.id, limit=10) == [
        first,
        tie_a,
        tie_b,
    ]
    assert store.list_due(pool.id, minutes(5), queue_id=default.id, limit=0) == []


def test_list_due_with_a_limit_alone_bounds_the_whole_pool_in_time_order(store):
    pool, default = add_pool(store)
    other = add_queue(store, pool, "other", priority=2)
    a = add_run(store, pool, other, at=minutes(0))
    b = add_run(store, pool, default, at=minutes(1))
    add_run(store, pool, other, at=minutes(2))

    assert store.list_due(pool.id, minutes(5), limit=2) == [a, b]


def test_list_due_of_a_queue_of_another_pool_or_an_unknown_queue_is_empty(store):
    pool, queue = add_pool(store)
    other_pool, other_queue = add_pool(store)
    add_run(store, other_pool, other_queue)
    add_run(store, pool, queue)

    assert store.list_due(pool.id, minutes(1), queue_id=other_queue.id) == []
    assert store.list_due(pool.id, minutes(1), queue_id="no-such-queue", limit=5) == []


def test_a_limited_read_skips_runs_claimed_since_and_still_fills_its_limit(store):
    pool, queue = add_pool(store)
    runs = [add_run(store, pool, queue, at=minutes(i)) for i in range(6)]
    for run in runs[:3]:
        claim(store, run)

    assert store.list_due(pool.id, minutes(9), queue_id=queue.id, limit=2) == runs[3:5]


# -- the dispatch turn ---------------------------------------------------------------

TURN = timedelta(seconds=90)


def test_a_free_turn_is_taken_and_records_the_pass(store):
    pool, _ = add_pool(store)

    assert store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    assert store.get_pool(pool.name).last_dispatched == NOW
    assert store.end_dispatch_turn(pool.id, "a", until=NOW + TURN) is None
    # released: the next one takes it at once
    assert store.take_dispatch_turn(pool.id, "b", at=NOW, until=NOW + TURN, again=Again.ADMIT)


def test_a_held_turn_is_marked_and_its_holder_passes_again_before_releasing(store):
    pool, _ = add_pool(store)
    assert store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)

    assert not store.take_dispatch_turn(pool.id, "b", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    assert not store.take_dispatch_turn(pool.id, "c", at=NOW, until=NOW + TURN, again=Again.ADMIT)

    assert store.end_dispatch_turn(pool.id, "a", until=NOW + TURN) is Again.ADMIT
    # still a's: the mark is cleared, the lease kept
    assert not store.take_dispatch_turn(pool.id, "d", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    assert store.end_dispatch_turn(pool.id, "a", until=NOW + TURN) is Again.ADMIT  # d's mark
    assert store.end_dispatch_turn(pool.id, "a", until=NOW + TURN) is None
    assert store.take_dispatch_turn(pool.id, "e", at=NOW, until=NOW + TURN, again=Again.ADMIT)


def test_resume_outranks_admit_in_the_mark(store):
    pool, _ = add_pool(store)
    store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    store.take_dispatch_turn(pool.id, "b", at=NOW, until=NOW + TURN, again=Again.RESUME)
    store.take_dispatch_turn(pool.id, "c", at=NOW, until=NOW + TURN, again=Again.ADMIT)

    assert store.end_dispatch_turn(pool.id, "a", until=NOW + TURN) is Again.RESUME


def test_an_expired_turn_is_taken_over_and_its_old_holder_cannot_end_it(store):
    pool, _ = add_pool(store)
    store.take_dispatch_turn(pool.id, "dead", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    just_before = NOW + TURN - timedelta(microseconds=1)

    assert not store.take_dispatch_turn(
        pool.id, "b", at=just_before, until=just_before + TURN, again=Again.ADMIT
    )
    assert store.take_dispatch_turn(
        pool.id, "c", at=NOW + TURN, until=NOW + 2 * TURN, again=Again.ADMIT
    )
    assert store.end_dispatch_turn(pool.id, "dead", until=None) is None
    assert not store.take_dispatch_turn(
        pool.id, "d", at=NOW + TURN, until=NOW + 2 * TURN, again=Again.ADMIT
    )  # still c's
    assert store.end_dispatch_turn(pool.id, "c", until=NOW + 2 * TURN) is Again.ADMIT


def test_ending_with_no_deadline_releases_even_when_marked_and_says_what_it_dropped(store):
    pool, _ = add_pool(store)
    store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    store.take_dispatch_turn(pool.id, "b", at=NOW, until=NOW + TURN, again=Again.ADMIT)

    assert store.end_dispatch_turn(pool.id, "a", until=None) is Again.ADMIT
    assert store.take_dispatch_turn(pool.id, "c", at=NOW, until=NOW + TURN, again=Again.ADMIT)


def test_a_holder_may_take_its_own_turn_again(store):
    pool, _ = add_pool(store)
    store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)

    assert store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)


def test_the_turn_of_a_missing_pool_is_not_found_and_ending_it_is_harmless(store):
    with pytest.raises(NotFound):
        store.take_dispatch_turn("no-such-pool", "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    assert store.end_dispatch_turn("no-such-pool", "a", until=NOW + TURN) is None


def test_a_deleted_pool_leaves_no_turn_behind(store):
    pool, _ = add_pool(store)
    store.take_dispatch_turn(pool.id, "a", at=NOW, until=NOW + TURN, again=Again.ADMIT)
    store.delete_pool(store.get_pool(pool.name))

    with pytest.raises(NotFound):
        store.take_dispatch_turn(pool.id, "b", at=NOW, until=NOW + TURN, again=Again.ADMIT)
