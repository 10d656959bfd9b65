"""Work-queue priorities: unique positive integers, 1 = highest.

Pure functions over the pool's queues.  Each returns the queues whose
priority changed, so the store writes only those, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import InvalidInput
from core.models import WorkQueue


def first_free_priority(taken: Sequence[int]) -> int:
    """The first gap in the pool's priorities, else one past the largest."""
    used = set(taken)
    candidate = 1
    while candidate in used:
        candidate += 1
    return candidate


def place(queues: Sequence[WorkQueue], queue: WorkQueue, priority: int | None) -> list[WorkQueue]:
    """Give ``queue`` a priority among ``queues`` and return every queue that
    must be written (``queue`` itself first, then any shifted ones).

    ``queues`` are the pool's queues; ``queue`` may be one of them (moved,
    matched by id) or new.  A taken priority ``p`` puts ``queue`` before the
    queue that held ``p``; following queues shift down only as far as needed
    to stay unique, so existing gaps are kept and relative order holds.
    """
    others = sorted((q for q in queues if q.id != queue.id), key=lambda q: q.priority)
    if priority is None:
        if queue.id in {q.id for q in queues}:
            return []
        priority = first_free_priority([q.priority for q in others])
    if priority < 1:
        raise InvalidInput("must be a positive integer (1 is the highest)", path="priority")
    changed = [queue.model_copy(update={"priority": priority})]
    floor = priority
    for other in others:
        if other.priority < priority:
            continue
        if other.priority > floor:
            break
        floor += 1
        changed.append(other.model_copy(update={"priority": floor}))
    return changed
