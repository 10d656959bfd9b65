"""The upgrade of tables written before issue 16, whose queues kept their
slot counter, pause flag, limit and stamp (``active``, ``paused``, ``lim``,
``touched``) on their own ``QUEUE#`` items, onto the pool's counter item
(:mod:`core.store.dynamodb.counters`).

Each move is one transaction conditioned both ways: the counter item has no
entry for the queues yet, and each queue item still holds the count read.
A race with another migration or with an old writer makes it a no-op to
retry, never a lost or doubled slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, b, get_b, get_n, get_s, n, parse_stamp
from core.store.dynamodb.counters import (
    ACTIVE,
    attr,
    counter_key,
    millis,
    queue_names,
    used,
)
from core.store.dynamodb.table import Op, Table

OLD_QUEUE_ATTRS = ("active", "paused", "lim", "touched")


def is_old_layout(queue_item: Item) -> bool:
    """A queue item that still carries its own counter (written before issue 16)."""
    return "active" in queue_item


# A transaction holds at most 100 items: the counter item and 99 queue items.
MIGRATION_CHUNK = 99


def migrate_pool(table: Table, pool_id: str, queue_items: Iterable[Item] | None = None) -> int:
    """Move every old-layout queue of one pool onto its counter item; how many
    moved.  One transaction per 99 queues, so a pool of up to 99 queues is
    never seen half moved (``counters`` relies on that)."""
    if queue_items is None:
        queue_items = table.partition(schema.pool_pk(pool_id), prefix=schema.QUEUE_PREFIX)
    old = [item for item in queue_items if is_old_layout(item)]
    if not old:
        return 0
    counter = table.get(counter_key(pool_id)) or {}
    # A queue the counter item already has was moved before; an old writer
    # (a rolling deploy) wrote to its item since.  The pool item's count is
    # the one claims check: clear the leftover, repair_counters fixes drift.
    for leftover in (i for i in old if attr(ACTIVE, _queue_id(i)) in counter):
        try:
            table.transact([_clear_op(leftover)])
        except _Raced:
            continue
    old = [i for i in old if attr(ACTIVE, _queue_id(i)) not in counter]
    moved = 0
    for start in range(0, len(old), MIGRATION_CHUNK):
        chunk = old[start : start + MIGRATION_CHUNK]
        try:
            table.transact([_move_op(pool_id, chunk), *map(_clear_op, chunk)])
        except _Raced:
            continue  # moved by someone else, or an old writer moved a count: next time
        moved += len(chunk)
    return moved


def _queue_id(queue_item: Item) -> str:
    return (get_s(queue_item, "sk") or "").removeprefix(schema.QUEUE_PREFIX)


def _move_op(pool_id: str, queue_items: Sequence[Item]) -> Op:
    """Set the queues' entries on the counter item, if it has none of them yet."""
    sets: list[str] = []
    conditions = ["attribute_exists(#pk)"]
    names: dict[str, str] = {"#pk": "pk"}
    values: dict[str, Any] = {}
    for i, item in enumerate(queue_items):
        names |= queue_names(_queue_id(item), str(i))
        conditions.append(f"attribute_not_exists(#qa{i})")
        sets.append(f"#qa{i} = :a{i}")
        values[f":a{i}"] = n(get_n(item, "active") or 0)
        if "lim" in item:
            sets.append(f"#ql{i} = :l{i}")
            values[f":l{i}"] = item["lim"]
        if get_b(item, "paused"):
            sets.append(f"#qp{i} = :yes")
            values[":yes"] = b(True)
        old_touch = get_s(item, "touched")
        if old_touch:
            sets.append(f"#qt{i} = :t{i}")
            values[f":t{i}"] = n(millis(parse_stamp(old_touch)))
    update, condition = "SET " + ", ".join(sets), " AND ".join(conditions)
    return Op(
        {
            "Update": {
                "Key": counter_key(pool_id),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used(names, update, condition),
                "ExpressionAttributeValues": values,
            }
        },
        _Raced,
    )


def _clear_op(queue_item: Item) -> Op:
    """Remove the old attributes from a queue item still holding the count read."""
    return Op(
        {
            "Update": {
                "Key": schema.key(get_s(queue_item, "pk") or "", get_s(queue_item, "sk") or ""),
                "UpdateExpression": "REMOVE " + ", ".join(f"#{a}" for a in OLD_QUEUE_ATTRS),
                "ConditionExpression": "#active = :active",
                "ExpressionAttributeNames": {f"#{a}": a for a in OLD_QUEUE_ATTRS},
                "ExpressionAttributeValues": {":active": queue_item["active"]},
            }
        },
        _Raced,
    )


def migrate_table(table: Table) -> int:
    """Migrate every pool of the table (idempotent: a second run moves nothing)."""
    pool_ids = [get_s(i, "pool_id") or "" for i in table.partition(schema.POOL_NAMES)]
    return sum(migrate_pool(table, pool_id) for pool_id in pool_ids)


class _Raced(Exception):
    def __init__(self, item: Item | None) -> None:
        super().__init__("raced")
        self.item = item
