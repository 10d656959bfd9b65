"""The pool's counter item (``P#<pool>/POOL#SLOTS``): every slot counter,
pause flag and limit a claim checks, for the pool and all of its queues.

Keeping the queues' counters on the pool's item makes a claim or a release a
two-item transaction (the run and this item, 4 WCU) instead of three (6 WCU).
The pool's own attributes keep their names (``active``, ``paused``, ``lim``,
``touched``); each queue has flat top-level attributes named after its id:

- ``a:<queue id>`` slots held (present exactly while the queue exists),
- ``l:<queue id>`` its limit (absent = no limit),
- ``p:<queue id>`` ``true`` while paused (absent = not paused),
- ``t:<queue id>`` epoch milliseconds of the counter's last change.

Flat attributes rather than a map: ``ADD`` works only on top-level
attributes, and a nested ``SET`` into a map entry that does not exist is a
validation error rather than a failed condition.  Absent-means-default and
millisecond stamps keep each queue at about 90 bytes (see docs/storage.md).

Tables written before this layout kept each queue's counter on its
``QUEUE#`` item; :mod:`core.store.dynamodb.upgrade` moves them here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.errors import CapacityFull, Conflict, NotFound
from core.models import FlowRun, WorkPool, WorkQueue
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, b, get_b, get_n, get_s, n, parse_stamp, s, stamp
from core.store.dynamodb.table import Op

ACTIVE, LIMIT, PAUSED, TOUCHED = "a", "l", "p", "t"
POOL_NAMES = {
    "#pk": "pk",
    "#active": "active",
    "#paused": "paused",
    "#lim": "lim",
    "#touched": "touched",
}


def attr(kind: str, queue_id: str) -> str:
    return f"{kind}:{queue_id}"


def counter_key(pool_id: str) -> dict[str, dict[str, str]]:
    return schema.key(schema.pool_pk(pool_id), schema.SLOTS_SK)


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def used(mapping: dict[str, Any], *expressions: str) -> dict[str, Any]:
    """The placeholders (``#name``, ``:value``) the expressions really use:
    DynamoDB refuses a request that defines one it does not use."""
    found = {m for e in expressions for m in re.findall(r"[#:]\w+", e)}
    return {k: v for k, v in mapping.items() if k in found}


def queue_names(queue_id: str, suffix: str = "") -> dict[str, str]:
    return {f"#q{k}{suffix}": attr(k, queue_id) for k in (ACTIVE, LIMIT, PAUSED, TOUCHED)}


# -- items and transaction items ------------------------------------------------------


def counter_item(pool: WorkPool, default_queue: WorkQueue) -> Item:
    """A new pool's counter item, with its default queue's entry."""
    item: Item = {
        **counter_key(pool.id),
        "active": n(0),
        "paused": b(pool.is_paused),
        "touched": s(stamp(pool.created)),  # from the start, like each queue's ``t:``
    }
    if pool.concurrency_limit is not None:
        item["lim"] = n(pool.concurrency_limit)
    item[attr(ACTIVE, default_queue.id)] = n(0)
    item[attr(TOUCHED, default_queue.id)] = n(millis(default_queue.created))
    if default_queue.concurrency_limit is not None:
        item[attr(LIMIT, default_queue.id)] = n(default_queue.concurrency_limit)
    if default_queue.is_paused:
        item[attr(PAUSED, default_queue.id)] = b(True)
    return item


def queue_settings_op(
    pool_id: str,
    queues: Sequence[WorkQueue],
    *,
    new: bool,
    held: int = 0,
    at: datetime | None = None,
    if_missing: bool = False,
) -> Op:
    """Copy the queues' pause flags and limits onto their pool's counter item.

    ``new``: the queues get their counters (``held`` slots, stamped ``at``,
    default their creation; ``if_missing``: only where none exists yet);
    otherwise each must already have one (a queue deleted meanwhile is
    ``NotFound``).  One item per pool: a transaction may touch an item once.
    """
    sets: list[str] = []
    removes: list[str] = []
    conditions = ["attribute_exists(#pk)"]
    names: dict[str, str] = {"#pk": "pk"}
    values: dict[str, Any] = {}
    for i, queue in enumerate(queues):
        names |= queue_names(queue.id, str(i))
        if new:  # the stamp from the start: a claim never grows the item by one
            sets += [f"#qa{i} = :held", f"#qt{i} = :t{i}"]
            values |= {":held": n(held), f":t{i}": n(millis(at or queue.created))}
            if if_missing:
                conditions.append(f"attribute_not_exists(#qa{i})")
        else:
            conditions.append(f"attribute_exists(#qa{i})")
        if queue.concurrency_limit is None:
            removes.append(f"#ql{i}")
        else:
            sets.append(f"#ql{i} = :l{i}")
            values[f":l{i}"] = n(queue.concurrency_limit)
        if queue.is_paused:
            sets.append(f"#qp{i} = :yes")
            values[":yes"] = b(True)
        else:
            removes.append(f"#qp{i}")
    update = " ".join(
        part
        for part in (
            "SET " + ", ".join(sets) if sets else "",
            "REMOVE " + ", ".join(removes) if removes else "",
        )
        if part
    )
    condition = " AND ".join(conditions)
    body: dict[str, Any] = {
        "Key": counter_key(pool_id),
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": used(names, update, condition),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if values:
        body["ExpressionAttributeValues"] = values
    by_id = {queue.id: queue for queue in queues}
    return Op({"Update": body}, lambda item: _settings_failure(pool_id, by_id, item))


def _settings_failure(pool_id: str, queues: dict[str, WorkQueue], item: Item | None) -> Exception:
    if item is None:
        return NotFound(f"work pool with id {pool_id!r} not found")
    gone = [q.name for q in queues.values() if attr(ACTIVE, q.id) not in item]
    return NotFound(f"work queue {gone[0] if gone else '?'!r} not found")


def restore_queue_op(queue: WorkQueue, count: int, at: datetime) -> Op:
    """Put back a queue's missing entry (``repair_counters``), if still missing."""
    return queue_settings_op(queue.pool_id, [queue], new=True, held=count, at=at, if_missing=True)


def remove_queue_op(queue: WorkQueue) -> Op:
    """Drop a deleted queue's counter, pause flag, limit and stamp."""
    names = queue_names(queue.id)
    return Op(
        {
            "Update": {
                "Key": counter_key(queue.pool_id),
                "UpdateExpression": "REMOVE " + ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        },
        lambda _: Conflict("an unconditional update cannot fail"),
    )


def take_op(run: FlowRun, at: datetime) -> Op:
    """Take one slot of the run's pool and queue if neither is paused or full."""
    condition = (
        "attribute_exists(#pk) AND #paused = :no AND (attribute_not_exists(#lim) OR #active < #lim)"
        " AND attribute_exists(#qa) AND attribute_not_exists(#qp)"
        " AND (attribute_not_exists(#ql) OR #qa < #ql)"
    )
    update = "ADD #active :one, #qa :one SET #touched = :at, #qt = :ms"
    return Op(
        {
            "Update": {
                "Key": counter_key(run.work_pool_id),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": POOL_NAMES | queue_names(run.work_queue_id),
                "ExpressionAttributeValues": {
                    ":one": n(1),
                    ":no": b(False),
                    ":at": s(stamp(at)),
                    ":ms": n(millis(at)),
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        lambda item: take_failure(run, item),
    )


class QueueCounterMissing(NotFound):
    """The queue has no counter on its pool's item: deleted, or not yet
    migrated from the old layout (the caller may migrate it and retry)."""


def take_failure(run: FlowRun, item: Item | None) -> Exception:
    """Which condition of :func:`take_op` failed, judged from the stored item.

    The order is the SQLite store's and the old three-item layout's: a
    missing pool or queue, then a pause (pool before queue), then a full
    limit (pool before queue).
    """
    pool, queue = run.work_pool_name, run.work_queue_name
    if item is None:
        return NotFound(f"work pool {pool!r} of flow run {run.id!r} not found")
    qa = get_n(item, attr(ACTIVE, run.work_queue_id))
    if qa is None:
        return QueueCounterMissing(f"work queue {queue!r} of flow run {run.id!r} not found")
    if get_b(item, "paused"):
        return CapacityFull(f"work pool {pool!r} is paused", scope="paused")
    if get_b(item, attr(PAUSED, run.work_queue_id)):
        return CapacityFull(f"work queue {queue!r} is paused", scope="paused")
    for kind, name, active, limit in (
        ("pool", pool, get_n(item, "active") or 0, get_n(item, "lim")),
        ("queue", queue, qa, get_n(item, attr(LIMIT, run.work_queue_id))),
    ):
        if limit is not None and active >= limit:
            return CapacityFull(
                f"work {kind} {name!r} is at its concurrency limit ({active} of {limit} "
                "slots in use); the run waits until a slot is released",
                scope=kind,
            )
    return Conflict(f"the slot counters of work pool {pool!r} changed meanwhile; retry")


class CounterGone(Exception):
    """A slot counter to release is missing or already at zero (internal).

    Releasing must never fail a state change: the pool or queue was
    deleted, or its counter already reads zero after drift.  The caller
    retries without that counter (see :func:`releasable`), like SQLite's
    ``MAX(active - 1, 0)``.
    """

    def __init__(self, item: Item | None) -> None:
        super().__init__("counter gone")
        self.item = item


def releasable(run: FlowRun, item: Item | None) -> tuple[bool, bool]:
    """(pool, queue): which of the run's counters the stored item can give back."""
    if item is None:
        return False, False
    return (
        (get_n(item, "active") or 0) > 0,
        (get_n(item, attr(ACTIVE, run.work_queue_id)) or 0) > 0,
    )


def release_op(run: FlowRun, at: datetime, *, pool: bool = True, queue: bool = True) -> Op | None:
    """Give back the run's slots (``None`` if neither counter is to be moved)."""
    parts = [("#active", "#touched = :at", pool), ("#qa", "#qt = :ms", queue)]
    chosen = [(counter, touch) for counter, touch, wanted in parts if wanted]
    if not chosen:
        return None
    update = "ADD " + ", ".join(f"{c} :minus" for c, _ in chosen)
    update += " SET " + ", ".join(t for _, t in chosen)
    condition = " AND ".join(f"{c} > :zero" for c, _ in chosen)
    all_names = POOL_NAMES | queue_names(run.work_queue_id)
    values = {":minus": n(-1), ":zero": n(0), ":at": s(stamp(at)), ":ms": n(millis(at))}
    return Op(
        {
            "Update": {
                "Key": counter_key(run.work_pool_id),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": used(all_names, update, condition),
                "ExpressionAttributeValues": used(values, update, condition),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        CounterGone,
    )


# -- reading and repairing ------------------------------------------------------------


def queue_counters(item: Item) -> dict[str, int]:
    """Slots held per queue id, from the counter item."""
    prefix = attr(ACTIVE, "")
    return {
        name.removeprefix(prefix): int(value["N"])
        for name, value in item.items()
        if name.startswith(prefix)
    }


def touched(item: Item, queue_id: str | None) -> datetime | None:
    """When a counter last moved (``None``: never, or before stamps were kept)."""
    if queue_id is None:
        text = get_s(item, "touched")
        return parse_stamp(text) if text else None
    ms = get_n(item, attr(TOUCHED, queue_id))
    return from_millis(ms) if ms is not None else None


def set_counter_request(
    pool_id: str, queue_id: str | None, *, was: int, now: int, at: datetime
) -> dict[str, Any]:
    """An ``UpdateItem`` setting one counter to ``now`` if it still reads ``was``."""
    if queue_id is None:
        counter, stamp_name, stamp_value = "active", "touched", s(stamp(at))
    else:
        counter, stamp_name = attr(ACTIVE, queue_id), attr(TOUCHED, queue_id)
        stamp_value = n(millis(at))
    return {
        "Key": counter_key(pool_id),
        "UpdateExpression": "SET #c = :now, #t = :at",
        "ConditionExpression": "attribute_exists(#c) AND #c = :was",
        "ExpressionAttributeNames": {"#c": counter, "#t": stamp_name},
        "ExpressionAttributeValues": {":now": n(now), ":was": n(was), ":at": stamp_value},
    }
