"""Claims, state changes and slot counters: admission's atomic writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import CapacityFull, Conflict, InvalidInput, NotFound
from core.states import SLOT_HOLDING, TERMINAL, StateType
from tests.contract.builders import (
    LEASE,
    NOW,
    add_pool,
    add_queue,
    add_run,
    claim,
    make_run,
    pending,
    scheduled,
    state,
)

LATER = NOW + timedelta(seconds=30)


def active_counts(store, pool):
    counters = store.counters(pool.id)
    return counters.pool_active, counters.queue_active


def test_claim_moves_a_run_to_pending_and_takes_both_slots(store):
    pool, queue = add_pool(store, limit=2, default_limit=2)
    run = add_run(store, pool, queue)

    claimed = store.claim(run, state=pending(LATER), lease_expires=LATER + LEASE)

    assert claimed.state_type is StateType.PENDING
    assert claimed.version == run.version + 1
    assert claimed.lease_expires == LATER + LEASE
    assert claimed.state_history[-1] == run.state
    assert store.get_run(run.id) == claimed
    assert active_counts(store, pool) == (1, {queue.id: 1})
    assert store.list_active(pool.id) == [claimed]


def test_a_run_is_claimed_once(store):
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)
    claim(store, run)

    with pytest.raises(Conflict):
        claim(store, run)  # the same (now stale) read again
    with pytest.raises(Conflict, match="no longer SCHEDULED"):
        claim(store, store.get_run(run.id))
    assert active_counts(store, pool) == (1, {queue.id: 1})


def test_a_stale_version_conflicts_and_changes_nothing(store):
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)
    moved = store.record_state(run, scheduled(LATER))  # rescheduled: new version

    with pytest.raises(Conflict, match="changed"):
        claim(store, run)
    assert store.get_run(run.id) == moved
    assert active_counts(store, pool) == (0, {queue.id: 0})


def test_claiming_or_moving_a_missing_run_is_not_found(store):
    pool, queue = add_pool(store)
    ghost = make_run(pool, queue)

    with pytest.raises(NotFound):
        claim(store, ghost)
    with pytest.raises(NotFound):
        store.record_state(ghost, state(StateType.CANCELLED))
    with pytest.raises(NotFound):
        store.mark_submitted(ghost, infrastructure_pid="x", at=NOW)
    with pytest.raises(NotFound):
        store.get_run(ghost.id)


def test_a_claim_must_move_to_pending(store):
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)

    with pytest.raises(InvalidInput):
        store.claim(run, state=state(StateType.RUNNING), lease_expires=LATER)
    assert store.get_run(run.id) == run


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_a_pool_limit_admits_exactly_that_many_runs(store, limit):
    pool, queue = add_pool(store, limit=limit)
    runs = [add_run(store, pool, queue, at=NOW + timedelta(seconds=i)) for i in range(limit + 2)]

    taken, refused = [], []
    for run in runs:
        try:
            taken.append(claim(store, run))
        except CapacityFull as exc:
            refused.append(exc.scope)

    assert len(taken) == limit
    assert refused == ["pool", "pool"]
    assert active_counts(store, pool) == (limit, {queue.id: limit})


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_a_queue_limit_caps_its_queue_but_not_its_siblings(store, limit):
    pool, capped = add_pool(store, default_limit=limit)
    free = add_queue(store, pool, "free", priority=2)

    for _ in range(limit):
        claim(store, add_run(store, pool, capped))
    with pytest.raises(CapacityFull) as refused:
        claim(store, add_run(store, pool, capped))
    assert refused.value.scope == "queue"
    for _ in range(limit + 2):
        claim(store, add_run(store, pool, free))

    assert active_counts(store, pool) == (2 * limit + 2, {capped.id: limit, free.id: limit + 2})


def test_no_limits_admit_everything(store):
    pool, queue = add_pool(store)
    for _ in range(8):
        claim(store, add_run(store, pool, queue))

    assert active_counts(store, pool) == (8, {queue.id: 8})


def test_all_queues_count_toward_the_pool_limit_paused_ones_included(store):
    pool, default = add_pool(store, limit=2)
    other = add_queue(store, pool, "other", priority=2)
    claim(store, add_run(store, pool, default))
    claim(store, add_run(store, pool, other))
    store.update_queues([default.model_copy(update={"is_paused": True})])

    with pytest.raises(CapacityFull) as refused:
        claim(store, add_run(store, pool, other))
    assert refused.value.scope == "pool"


def test_paused_pools_and_queues_refuse_claims(store):
    pool, queue = add_pool(store)
    other = add_queue(store, pool, "other", priority=2, paused=True)
    run = add_run(store, pool, other)

    with pytest.raises(CapacityFull) as refused:
        claim(store, run)
    assert refused.value.scope == "paused"

    paused_pool = store.update_pool(pool.model_copy(update={"is_paused": True}))
    with pytest.raises(CapacityFull) as refused:
        claim(store, add_run(store, pool, queue))
    assert refused.value.scope == "paused"

    store.update_pool(paused_pool.model_copy(update={"is_paused": False}))
    claimed = claim(store, add_run(store, pool, queue))
    assert claimed.state_type is StateType.PENDING
    assert store.get_run(run.id) == run


def test_lowering_a_limit_below_the_active_count_only_blocks_new_claims(store):
    pool, queue = add_pool(store, limit=3)
    held = [claim(store, add_run(store, pool, queue)) for _ in range(3)]
    store.update_pool(store.get_pool_by_id(pool.id).model_copy(update={"concurrency_limit": 1}))

    with pytest.raises(CapacityFull):
        claim(store, add_run(store, pool, queue))
    for run in held[:2]:
        store.record_state(run, state(StateType.COMPLETED))
    with pytest.raises(CapacityFull):
        claim(store, add_run(store, pool, queue))  # 1 active, limit 1
    store.record_state(held[2], state(StateType.COMPLETED))
    claim(store, add_run(store, pool, queue))


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("holding", sorted(SLOT_HOLDING))
def test_every_terminal_transition_releases_both_slots(store, holding, terminal):
    pool, queue = add_pool(store, limit=1, default_limit=1)
    run = claim(store, add_run(store, pool, queue))
    if holding is not StateType.PENDING:
        run = store.record_state(run, state(holding))
    assert active_counts(store, pool) == (1, {queue.id: 1})

    ended = store.record_state(run, state(terminal, LATER))

    assert ended.state_type is terminal
    assert ended.lease_expires is None
    assert active_counts(store, pool) == (0, {queue.id: 0})
    assert store.list_active(pool.id) == []
    claim(store, add_run(store, pool, queue))  # the slot is usable again


def test_moving_between_slot_holding_states_keeps_the_slot(store):
    pool, queue = add_pool(store, limit=1)
    run = claim(store, add_run(store, pool, queue))

    run = store.record_state(run, state(StateType.RUNNING))
    assert active_counts(store, pool) == (1, {queue.id: 1})
    run = store.record_state(run, state(StateType.CANCELLING))
    assert active_counts(store, pool) == (1, {queue.id: 1})
    with pytest.raises(CapacityFull):
        claim(store, add_run(store, pool, queue))  # CANCELLING still holds its slot
    store.record_state(run, state(StateType.CANCELLED))
    assert active_counts(store, pool) == (0, {queue.id: 0})


def test_returning_to_scheduled_releases_and_starts_a_new_attempt(store):
    pool, queue = add_pool(store, limit=1)
    run = claim(store, add_run(store, pool, queue))
    run = store.mark_submitted(run, infrastructure_pid="task-1", at=NOW)

    back = store.record_state(run, scheduled(LATER))

    assert back.state_type is StateType.SCHEDULED
    assert back.attempt == 2
    assert back.infrastructure_pid is None
    assert back.next_scheduled_start_time == LATER
    assert active_counts(store, pool) == (0, {queue.id: 0})
    assert store.list_due(pool.id, LATER) == [back]
    assert claim(store, back).attempt == 2


def test_taking_a_slot_through_record_state_obeys_the_same_limits(store):
    pool, queue = add_pool(store, limit=1)
    first = add_run(store, pool, queue)
    second = add_run(store, pool, queue)

    running = store.record_state(first, state(StateType.RUNNING))
    with pytest.raises(CapacityFull) as refused:
        store.record_state(second, state(StateType.RUNNING))

    assert refused.value.scope == "pool"
    assert running.state_type is StateType.RUNNING
    assert store.get_run(second.id) == second
    assert active_counts(store, pool) == (1, {queue.id: 1})


def test_non_slot_transitions_leave_counters_alone(store):
    pool, queue = add_pool(store, limit=0)
    run = add_run(store, pool, queue)

    run = store.record_state(run, state(StateType.SCHEDULED, name="Late", scheduled_time=NOW))
    run = store.record_state(run, state(StateType.PAUSED))
    run = store.record_state(run, state(StateType.CANCELLED))

    assert run.state_type is StateType.CANCELLED
    assert [s.name for s in run.state_history] == ["Scheduled", "Late", "Paused"]
    assert active_counts(store, pool) == (0, {queue.id: 0})


def test_record_state_rejects_a_stale_version(store):
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    store.record_state(run, state(StateType.RUNNING))

    with pytest.raises(Conflict):
        store.record_state(run, state(StateType.COMPLETED))  # decided on an old read
    assert store.get_run(run.id).state_type is StateType.RUNNING
    assert active_counts(store, pool) == (1, {queue.id: 1})


# -- mark_submitted -------------------------------------------------------------


def test_mark_submitted_records_the_infrastructure_and_ends_the_lease(store):
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))

    submitted = store.mark_submitted(run, infrastructure_pid="task-1", at=LATER)

    assert submitted.infrastructure_pid == "task-1"
    assert submitted.submitted_at == LATER
    assert submitted.lease_expires is None
    assert submitted.state_type is StateType.PENDING
    assert submitted.version == run.version + 1
    assert store.get_run(run.id) == submitted
    assert store.mark_submitted(run, infrastructure_pid="task-1", at=LATER) == submitted


def test_mark_submitted_after_the_run_already_started_still_records_it(store):
    """The infrastructure may report RUNNING before the submitter records its id."""
    pool, queue = add_pool(store)
    claimed = claim(store, add_run(store, pool, queue))
    store.record_state(claimed, state(StateType.RUNNING))

    submitted = store.mark_submitted(claimed, infrastructure_pid="task-1", at=LATER)

    assert submitted.state_type is StateType.RUNNING
    assert submitted.infrastructure_pid == "task-1"


def test_mark_submitted_refuses_a_second_infrastructure_for_one_attempt(store):
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    store.mark_submitted(run, infrastructure_pid="task-1", at=NOW)

    with pytest.raises(Conflict, match="task-1"):
        store.mark_submitted(run, infrastructure_pid="task-2", at=NOW)
    assert store.get_run(run.id).infrastructure_pid == "task-1"


def test_mark_submitted_for_an_abandoned_attempt_conflicts(store):
    pool, queue = add_pool(store)
    claimed = claim(store, add_run(store, pool, queue))
    store.record_state(claimed, scheduled(LATER))  # lease expired: attempt 2

    with pytest.raises(Conflict, match="stale"):
        store.mark_submitted(claimed, infrastructure_pid="task-1", at=LATER)
    assert store.get_run(claimed.id).infrastructure_pid is None


def test_mark_submitted_on_a_run_that_never_was_claimed_conflicts(store):
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)

    with pytest.raises(Conflict):
        store.mark_submitted(run, infrastructure_pid="task-1", at=NOW)


# -- counters -------------------------------------------------------------------


def test_counters_list_every_queue_of_the_pool(store):
    pool, default = add_pool(store)
    idle = add_queue(store, pool, "idle", priority=2)
    busy = add_queue(store, pool, "busy", priority=3)
    claim(store, add_run(store, pool, busy))
    claim(store, add_run(store, pool, busy))

    assert active_counts(store, pool) == (2, {default.id: 0, idle.id: 0, busy.id: 2})


def test_repair_on_correct_counters_changes_nothing(store):
    pool, queue = add_pool(store)
    claim(store, add_run(store, pool, queue))

    assert store.repair_counters(pool.id) == []
    assert active_counts(store, pool) == (1, {queue.id: 1})


def test_repair_recounts_from_the_runs_after_drift(store):
    """A deleted-and-recreated queue id makes drift: the run released into nothing."""
    pool, default = add_pool(store, limit=5)
    extra = add_queue(store, pool, "extra", priority=2)
    held = claim(store, add_run(store, pool, extra))
    claim(store, add_run(store, pool, default))
    store.delete_queue(extra)
    store.create_queue(extra)  # same id, counter back at 0 while a run holds a slot

    repairs = store.repair_counters(pool.id)

    assert [(r.queue_id, r.was, r.now) for r in repairs] == [(extra.id, 0, 1)]
    assert active_counts(store, pool) == (2, {default.id: 1, extra.id: 1})
    store.record_state(held, state(StateType.COMPLETED))
    assert active_counts(store, pool) == (1, {default.id: 1, extra.id: 0})
    assert store.repair_counters(pool.id) == []


def test_repair_for_a_missing_pool_is_not_found(store):
    with pytest.raises(NotFound):
        store.repair_counters("nope")


def test_repair_fixes_the_pool_counter_too(store):
    pool, queue = add_pool(store)
    held = claim(store, add_run(store, pool, queue))
    store.delete_pool(pool)
    store.create_pool(pool, queue)  # same ids, counters back at 0, one run still active

    repairs = store.repair_counters(pool.id)

    assert sorted((r.queue_id or "", r.was, r.now) for r in repairs) == sorted(
        [("", 0, 1), (queue.id, 0, 1)]
    )
    assert all(r.pool_id == pool.id for r in repairs)
    assert active_counts(store, pool) == (1, {queue.id: 1})
    store.record_state(held, state(StateType.COMPLETED))
    assert active_counts(store, pool) == (0, {queue.id: 0})


def test_editing_pools_and_queues_keeps_their_counters(store):
    pool, queue = add_pool(store, limit=5, default_limit=5)
    claim(store, add_run(store, pool, queue))

    store.update_pool(pool.model_copy(update={"description": "edited", "concurrency_limit": 4}))
    store.update_queues([queue.model_copy(update={"is_paused": True, "concurrency_limit": 2})])
    store.record_poll(pool.id, [queue.id], LATER)
    store.record_dispatch(pool.id, LATER)

    assert active_counts(store, pool) == (1, {queue.id: 1})


def test_a_run_of_a_deleted_pool_can_still_finish(store):
    pool, queue = add_pool(store, limit=1)
    running = store.record_state(
        claim(store, add_run(store, pool, queue)), state(StateType.RUNNING)
    )
    store.delete_pool(pool)

    done = store.record_state(running, state(StateType.COMPLETED))

    assert done.state_type is StateType.COMPLETED
    assert store.list_active() == []
