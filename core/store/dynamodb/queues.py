"""Work queues on DynamoDB.

A queue is one item in its pool's partition (``QUEUE#<id>``) holding its
document and its last poll time (written without touching the document).
Its slot counter, pause flag and limit (what a claim checks) live on the
pool's counter item, kept in step in the same transaction by every write
here (see ``counters``).  Its name is
claimed by a ``QNAME#<name>`` item in the same partition, and a pointer item
``Q#<id>`` finds its pool from its id alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.errors import Conflict, InvalidInput, NotFound
from core.models import WorkQueue
from core.store.dynamodb import counters, schema, upgrade
from core.store.dynamodb.codec import get_s, n, names, pack, s, stamp
from core.store.dynamodb.items import queue_from, queue_item
from core.store.dynamodb.ops import EXISTS, delete, put, put_new, rename_ops, stale
from core.store.dynamodb.table import Op, Table


class Queues:
    """Queues of a pool, their name claims and id pointers."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def queue_ops(self, queue: WorkQueue) -> list[Op]:
        """The items of a new queue: name claim, queue, pointer."""
        pk = schema.pool_pk(queue.pool_id)
        name_claim = {**schema.key(pk, schema.queue_name_sk(queue.name)), "queue_id": s(queue.id)}
        pointer = {
            **schema.key(schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK),
            "pool_id": s(queue.pool_id),
        }
        return [
            put_new(
                name_claim,
                Conflict(f"a work queue named {queue.name!r} already exists in this pool"),
            ),
            put_new(queue_item(queue), Conflict(f"a work queue with id {queue.id!r} exists")),
            put(pointer),
        ]

    def create_queue(self, queue: WorkQueue) -> None:
        """The queue's items and its counter on the pool's item (which must exist)."""
        counter = counters.queue_settings_op(queue.pool_id, [queue], new=True)
        self._table.transact([counter, *self.queue_ops(queue)])

    def _queue_at(self, pool_id: str, queue_id: str, what: str) -> WorkQueue:
        item = self._table.get(schema.key(schema.pool_pk(pool_id), schema.queue_sk(queue_id)))
        if item is None:
            raise NotFound(f"{what} not found")
        return queue_from(item)

    def get_queue(self, pool_id: str, name: str) -> WorkQueue:
        claim = self._table.get(schema.key(schema.pool_pk(pool_id), schema.queue_name_sk(name)))
        if claim is None:
            raise NotFound(f"work queue {name!r} not found")
        return self._queue_at(pool_id, get_s(claim, "queue_id") or "", f"work queue {name!r}")

    def get_queue_by_id(self, queue_id: str) -> WorkQueue:
        what = f"work queue with id {queue_id!r}"
        pointer = self._table.get(
            schema.key(schema.queue_pointer_pk(queue_id), schema.QUEUE_POINTER_SK)
        )
        if pointer is None:
            raise NotFound(f"{what} not found")
        return self._queue_at(get_s(pointer, "pool_id") or "", queue_id, what)

    def list_queues(self, pool_id: str) -> list[WorkQueue]:
        items = self._table.partition(schema.pool_pk(pool_id), prefix=schema.QUEUE_PREFIX)
        return sorted((queue_from(i) for i in items), key=lambda q: (q.priority, q.name))

    def update_queues(self, queues: Sequence[WorkQueue]) -> list[WorkQueue]:
        """One transaction over every queue (version-checked), moving name claims."""
        keys = [schema.key(schema.pool_pk(q.pool_id), schema.queue_sk(q.id)) for q in queues]
        items = self._table.batch_get(keys)
        for pool_id in {q.pool_id for q in queues}:
            if any(
                upgrade.is_old_layout(i) for i in items if get_s(i, "pk") == schema.pool_pk(pool_id)
            ):
                upgrade.migrate_pool(self._table, pool_id)  # settings now go to its item
        stored = {q.id: q for q in map(queue_from, items)}
        ops: list[Op] = []
        written: list[WorkQueue] = []
        by_pool: dict[str, list[WorkQueue]] = {}
        for queue in queues:
            before = stored.get(queue.id) or self._missing_queue(queue)
            new = queue.model_copy(
                update={"version": queue.version + 1, "last_polled": before.last_polled}
            )
            ops.append(_queue_update_op(new, expected=queue.version))
            if before.name != queue.name:
                ops += rename_ops(
                    schema.pool_pk(queue.pool_id),
                    old_sk=schema.queue_name_sk(before.name),
                    new_sk=schema.queue_name_sk(queue.name),
                    attr="queue_id",
                    owner=queue.id,
                    error=Conflict(
                        f"a work queue named {queue.name!r} already exists in this pool"
                    ),
                )
            written.append(new)
            by_pool.setdefault(queue.pool_id, []).append(new)
        ops += [counters.queue_settings_op(p, qs, new=False) for p, qs in by_pool.items()]
        if ops:
            self._table.transact(ops)
        return written

    def _missing_queue(self, queue: WorkQueue) -> WorkQueue:
        """Raise the right error for a queue not found under its pool."""
        what = f"work queue {queue.name!r}"
        pointer = self._table.get(
            schema.key(schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK)
        )
        if pointer is not None:
            raise InvalidInput(f"{what} cannot move to another work pool", path="pool_id")
        raise NotFound(f"{what} not found")

    def delete_queue(self, queue: WorkQueue) -> None:
        """Delete the queue and its SCHEDULED runs (they could never be admitted)."""
        pk = schema.pool_pk(queue.pool_id)
        not_default = "attribute_not_exists(#pk) OR #default_q <> :queue"
        is_default = Conflict(
            f"work queue {queue.name!r} is its pool's default queue and cannot be deleted; "
            "delete the pool instead"
        )
        self._table.transact(
            [
                Op(
                    {
                        "ConditionCheck": {
                            "Key": schema.key(pk, schema.POOL_SK),
                            "ConditionExpression": not_default,
                            "ExpressionAttributeNames": names(not_default),
                            "ExpressionAttributeValues": {":queue": s(queue.id)},
                        }
                    },
                    lambda _: is_default,
                ),
                delete(
                    schema.key(pk, schema.queue_sk(queue.id)),
                    NotFound(f"work queue {queue.name!r} not found"),
                ),
                delete(schema.key(pk, schema.queue_name_sk(queue.name))),
                delete(schema.key(schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK)),
                counters.remove_queue_op(queue),
            ]
        )
        self._table.batch_delete(self.scheduled_run_keys(queue.id))

    def scheduled_run_keys(self, queue_id: str) -> list[dict[str, Any]]:
        """Keys of the queue's SCHEDULED runs, from the ``scheduled`` index."""
        items = self._table.query(
            IndexName=schema.SCHEDULED_INDEX,
            KeyConditionExpression="#sched_q = :queue",
            ProjectionExpression="#pk, #sk",
            ExpressionAttributeNames={"#sched_q": "sched_q", "#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":queue": s(queue_id)},
        )
        return [schema.key(get_s(i, "pk") or "", get_s(i, "sk") or "") for i in items]

    def record_poll(self, pool_id: str, queue_ids: Sequence[str], at: datetime) -> None:
        """One small update per queue; the document and version are untouched."""
        update = "SET #polled = :at"
        for queue_id in queue_ids:
            try:
                self._table.conditional(
                    "update_item",
                    lambda _: NotFound("queue gone"),
                    Key=schema.key(schema.pool_pk(pool_id), schema.queue_sk(queue_id)),
                    UpdateExpression=update,
                    ConditionExpression=EXISTS,
                    ExpressionAttributeNames=names(update, EXISTS),
                    ExpressionAttributeValues={":at": s(stamp(at))},
                )
            except NotFound:
                continue  # a queue deleted since the poll began


def _queue_update_op(queue: WorkQueue, *, expected: int) -> Op:
    """Rewrite a queue's document, keeping its poll time (its pause flag and
    limit go to the pool's counter item in the same transaction)."""
    update = "SET #doc = :doc, #version = :new, #name = :name"
    values: dict[str, Any] = {
        ":doc": pack(queue, exclude={"last_polled"}),
        ":new": n(queue.version),
        ":name": s(queue.name),
        ":version": n(expected),
    }
    condition = "#version = :version"
    what = f"work queue {queue.name!r}"
    return Op(
        {
            "Update": {
                "Key": schema.key(schema.pool_pk(queue.pool_id), schema.queue_sk(queue.id)),
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names(update, condition),
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        lambda item: stale(what, expected, item),
    )
