from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.models import WorkQueue
from core.rules.queues import first_free_priority, place

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def queue(name: str, priority: int) -> WorkQueue:
    return WorkQueue(id=name, pool_id="p", name=name, priority=priority, created=NOW, updated=NOW)


def apply(queues: list[WorkQueue], changed: list[WorkQueue]) -> list[WorkQueue]:
    by_id = {q.id: q for q in queues} | {q.id: q for q in changed}
    return sorted(by_id.values(), key=lambda q: q.priority)


def test_new_queue_takes_the_first_gap():
    assert first_free_priority([1, 2, 4]) == 3
    assert first_free_priority([1, 2, 3]) == 4
    assert first_free_priority([]) == 1
    assert first_free_priority([2, 3]) == 1


def test_taken_priority_inserts_before_and_shifts_only_as_needed_keeping_gaps():
    queues = [queue("a", 1), queue("b", 2), queue("c", 3), queue("d", 7)]
    changed = place(queues, queue("new", 1), 2)
    result = apply(queues, changed)
    assert [(q.name, q.priority) for q in result] == [
        ("a", 1),
        ("new", 2),
        ("b", 3),
        ("c", 4),
        ("d", 7),
    ]
    assert {q.name for q in changed} == {"new", "b", "c"}


def test_free_priority_moves_nothing_else():
    queues = [queue("a", 1), queue("b", 5)]
    assert [q.name for q in place(queues, queue("new", 1), 3)] == ["new"]


def test_moving_an_existing_queue_up_reorders_the_others_minimally():
    queues = [queue("a", 1), queue("b", 2), queue("c", 3)]
    result = apply(queues, place(queues, queues[2], 1))
    assert [(q.name, q.priority) for q in result] == [("c", 1), ("a", 2), ("b", 3)]


def test_existing_queue_without_new_priority_is_unchanged():
    queues = [queue("a", 1)]
    assert place(queues, queues[0], None) == []


def test_priority_must_be_positive():
    with pytest.raises(InvalidInput, match="priority"):
        place([], queue("x", 1), 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 12)), min_size=1, max_size=30))
def test_priorities_stay_unique_and_positive_and_order_is_kept(steps):
    queues: list[WorkQueue] = []
    for index, (is_new, priority) in enumerate(steps):
        if is_new or not queues:
            target = queue(f"q{index}", 1)
        else:
            target = queues[priority % len(queues)]
        before = [q.id for q in queues if q.id != target.id]
        queues = apply(queues, place(queues, target, priority))
        priorities = [q.priority for q in queues]
        assert len(set(priorities)) == len(priorities)
        assert all(p >= 1 for p in priorities)
        assert [q.id for q in queues if q.id != target.id] == before
        assert next(q for q in queues if q.id == target.id).priority == priority
