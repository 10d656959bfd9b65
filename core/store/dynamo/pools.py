"""Pools, queues and workers on DynamoDB.

A pool's items share one partition (``P#<pool id>``): its document, its slot
counter, its last dispatcher pass, its queues (each with its own counter),
its queue-name claims and its workers.  Names are made unique by "name"
items written in the same transaction as the object; a queue can also be
found by id alone through a small pointer item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Worker, WorkPool, WorkQueue
from core.store.dynamo import schema
from core.store.dynamo.base import DynamoBase, Exists
from core.store.dynamo.codec import Item, get_n, get_s, n, names, s, stamp
from core.store.dynamo.items import (
    pool_doc_item,
    pool_from,
    pool_slots_item,
    queue_from,
    queue_item,
    worker_from,
)
from core.store.dynamo.table import Op

NEW = "attribute_not_exists(#pk)"
EXISTS = "attribute_exists(#pk)"


def put_new(item: Item, error: Exception) -> Op:
    return Op(
        {"Put": {"Item": item, "ConditionExpression": NEW, "ExpressionAttributeNames": names(NEW)}},
        lambda _: error,
    )


def delete(key: dict[str, Any], error: Exception | None = None) -> Op:
    body: dict[str, Any] = {"Key": key}
    if error is not None:
        body |= {"ConditionExpression": EXISTS, "ExpressionAttributeNames": names(EXISTS)}
    return Op({"Delete": body}, lambda _: error or Conflict("unexpected condition"))


def stale(what: str, expected: int, item: Item | None) -> Exception:
    if item is None:
        return NotFound(f"{what} not found")
    return Conflict(
        f"{what} changed since it was read (version {expected}, stored "
        f"{get_n(item, 'version')}); read it again and retry"
    )


def rename_ops(
    pk: str, *, old_sk: str, new_sk: str, attr: str, owner: str, error: Exception
) -> list[Op]:
    """Move a name claim: delete the old one, claim the new one (or fail)."""
    return [
        delete(schema.key(pk, old_sk)),
        put_new({**schema.key(pk, new_sk), attr: s(owner)}, error),
    ]


class PoolsMixin(DynamoBase):
    # -- pools ------------------------------------------------------------------
    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None:
        duplicate = Conflict(f"a work pool named {pool.name!r} already exists")
        self._table.transact(
            [
                put_new(
                    {**schema.key(schema.POOL_NAMES, pool.name), "pool_id": s(pool.id)}, duplicate
                ),
                put_new(
                    pool_doc_item(pool), Conflict(f"a work pool with id {pool.id!r} already exists")
                ),
                Op({"Put": {"Item": pool_slots_item(pool)}}, lambda _: duplicate),
                Op(
                    {"Put": {"Item": schema.key(schema.pool_pk(pool.id), schema.SEEN_SK)}},
                    lambda _: duplicate,
                ),
                *self._queue_ops(default_queue),
            ]
        )

    def get_pool(self, name: str) -> WorkPool:
        item = self._table.get(schema.key(schema.POOL_NAMES, name))
        if item is None:
            raise NotFound(f"work pool {name!r} not found")
        return self.get_pool_by_id(get_s(item, "pool_id") or "")

    def get_pool_by_id(self, pool_id: str) -> WorkPool:
        items = self._table.query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": s(schema.pool_pk(pool_id)),
                ":prefix": s(schema.POOL_PREFIX),
            },
            ConsistentRead=True,
        )
        pool = pool_from(list(items))
        if pool is None:
            raise NotFound(f"work pool with id {pool_id!r} not found")
        return pool

    def list_pools(self) -> list[WorkPool]:
        claims = self._table.query(
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk"},
            ExpressionAttributeValues={":pk": s(schema.POOL_NAMES)},
            ConsistentRead=True,
        )
        pool_ids = [get_s(item, "pool_id") or "" for item in claims]
        keys = [
            schema.key(schema.pool_pk(pool_id), sk)
            for pool_id in pool_ids
            for sk in (schema.POOL_SK, schema.SEEN_SK)
        ]
        by_pool: dict[str, list[Item]] = {}
        for item in self._table.batch_get(keys):
            by_pool.setdefault(get_s(item, "pk") or "", []).append(item)
        pools = [pool_from(items) for items in by_pool.values()]
        return sorted((p for p in pools if p is not None), key=lambda p: p.name)

    def update_pool(self, pool: WorkPool) -> WorkPool:
        stored = self.get_pool_by_id(pool.id)
        new = pool.model_copy(
            update={"version": pool.version + 1, "last_dispatched": stored.last_dispatched}
        )
        what = f"work pool {pool.name!r}"
        condition = "#version = :version"
        slots = "SET #paused = :paused" + (
            " REMOVE #lim" if pool.concurrency_limit is None else ", #lim = :lim"
        )
        slot_values: dict[str, Any] = {":paused": {"BOOL": pool.is_paused}}
        if pool.concurrency_limit is not None:
            slot_values[":lim"] = n(pool.concurrency_limit)
        ops = [
            Op(
                {
                    "Put": {
                        "Item": pool_doc_item(new),
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names(condition),
                        "ExpressionAttributeValues": {":version": n(pool.version)},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                lambda item: stale(what, pool.version, item),
            ),
            Op(
                {
                    "Update": {
                        "Key": schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
                        "UpdateExpression": slots,
                        "ConditionExpression": EXISTS,
                        "ExpressionAttributeNames": names(slots, EXISTS),
                        "ExpressionAttributeValues": slot_values,
                    }
                },
                lambda _: NotFound(f"{what} not found"),
            ),
        ]
        if stored.name != pool.name:
            duplicate = Conflict(f"a work pool named {pool.name!r} already exists")
            ops += rename_ops(
                schema.POOL_NAMES,
                old_sk=stored.name,
                new_sk=pool.name,
                attr="pool_id",
                owner=pool.id,
                error=duplicate,
            )
        self._table.transact(ops)
        return new

    def delete_pool(self, pool: WorkPool) -> None:
        """Delete the pool at once, then sweep its queues, workers and SCHEDULED runs.

        The first transaction removes the pool and its counter, so no claim
        can succeed afterwards; the sweep may then take as many requests as
        the pool has items (a cascade can exceed one transaction's 100 items).
        """
        stored = self.get_pool_by_id(pool.id)
        pk = schema.pool_pk(pool.id)
        self._table.transact(
            [
                delete(
                    schema.key(pk, schema.POOL_SK), NotFound(f"work pool {pool.name!r} not found")
                ),
                delete(schema.key(pk, schema.SLOTS_SK)),
                delete(schema.key(pk, schema.SEEN_SK)),
                delete(schema.key(schema.POOL_NAMES, stored.name)),
            ]
        )
        partition = list(
            self._table.query(
                KeyConditionExpression="#pk = :pk",
                ProjectionExpression="#pk, #sk",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={":pk": s(pk)},
                ConsistentRead=True,
            )
        )
        queue_ids = [
            (get_s(item, "sk") or "").removeprefix(schema.QUEUE_PREFIX)
            for item in partition
            if (get_s(item, "sk") or "").startswith(schema.QUEUE_PREFIX)
        ]
        keys = [schema.key(get_s(i, "pk") or "", get_s(i, "sk") or "") for i in partition]
        keys += [schema.key(schema.queue_pointer_pk(q), schema.QUEUE_POINTER_SK) for q in queue_ids]
        keys += [k for q in queue_ids for k in self._scheduled_run_keys(q)]
        self._table.batch_delete(keys)

    def record_dispatch(self, pool_id: str, at: datetime) -> None:
        update = "SET #at = :at"
        try:
            self._table.conditional(
                "update_item",
                lambda _: NotFound(f"work pool with id {pool_id!r} not found"),
                Key=schema.key(schema.pool_pk(pool_id), schema.SEEN_SK),
                UpdateExpression=update,
                ConditionExpression=EXISTS,
                ExpressionAttributeNames=names(update, EXISTS),
                ExpressionAttributeValues={":at": s(stamp(at))},
            )
        except NotFound:
            return  # a deleted pool's last dispatch is of no interest

    # -- queues -----------------------------------------------------------------
    def _queue_ops(self, queue: WorkQueue) -> list[Op]:
        pk = schema.pool_pk(queue.pool_id)
        duplicate = Conflict(f"a work queue named {queue.name!r} already exists in this pool")
        return [
            put_new(
                {**schema.key(pk, schema.queue_name_sk(queue.name)), "queue_id": s(queue.id)},
                duplicate,
            ),
            put_new(
                queue_item(queue), Conflict(f"a work queue with id {queue.id!r} already exists")
            ),
            Op(
                {
                    "Put": {
                        "Item": {
                            **schema.key(
                                schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK
                            ),
                            "pool_id": s(queue.pool_id),
                        }
                    }
                },
                lambda _: duplicate,
            ),
        ]

    def create_queue(self, queue: WorkQueue) -> None:
        pool_exists = Op(
            {
                "ConditionCheck": {
                    "Key": schema.key(schema.pool_pk(queue.pool_id), schema.POOL_SK),
                    "ConditionExpression": EXISTS,
                    "ExpressionAttributeNames": names(EXISTS),
                }
            },
            lambda _: NotFound(f"work pool with id {queue.pool_id!r} not found"),
        )
        self._table.transact([pool_exists, *self._queue_ops(queue)])

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
        items = self._table.query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": s(schema.pool_pk(pool_id)),
                ":prefix": s(schema.QUEUE_PREFIX),
            },
            ConsistentRead=True,
        )
        return sorted((queue_from(i) for i in items), key=lambda q: (q.priority, q.name))

    def update_queues(self, queues: Sequence[WorkQueue]) -> list[WorkQueue]:
        if not queues:
            return []
        keys = [schema.key(schema.pool_pk(q.pool_id), schema.queue_sk(q.id)) for q in queues]
        stored = {queue_from(i).id: queue_from(i) for i in self._table.batch_get(keys)}
        ops: list[Op] = []
        written: list[WorkQueue] = []
        for queue in queues:
            what = f"work queue {queue.name!r}"
            before = stored.get(queue.id)
            if before is None:
                pointer = self._table.get(
                    schema.key(schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK)
                )
                if pointer is not None:
                    raise InvalidInput(f"{what} cannot move to another work pool", path="pool_id")
                raise NotFound(f"{what} not found")
            new = queue.model_copy(
                update={"version": queue.version + 1, "last_polled": before.last_polled}
            )
            ops.append(self._queue_update_op(new, expected=queue.version))
            if before.name != queue.name:
                duplicate = Conflict(
                    f"a work queue named {queue.name!r} already exists in this pool"
                )
                ops += rename_ops(
                    schema.pool_pk(queue.pool_id),
                    old_sk=schema.queue_name_sk(before.name),
                    new_sk=schema.queue_name_sk(queue.name),
                    attr="queue_id",
                    owner=queue.id,
                    error=duplicate,
                )
            written.append(new)
        self._table.transact(ops)
        return written

    @staticmethod
    def _queue_update_op(queue: WorkQueue, *, expected: int) -> Op:
        """Rewrite a queue's document and settings, keeping its counter and poll time."""
        update = "SET #doc = :doc, #version = :new, #name = :name, #paused = :paused"
        values: dict[str, Any] = {
            ":doc": s(queue.model_dump_json(exclude={"last_polled"})),
            ":new": n(queue.version),
            ":name": s(queue.name),
            ":paused": {"BOOL": queue.is_paused},
            ":version": n(expected),
        }
        if queue.concurrency_limit is None:
            update += " REMOVE #lim"
        else:
            update += ", #lim = :lim"
            values[":lim"] = n(queue.concurrency_limit)
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

    def delete_queue(self, queue: WorkQueue) -> None:
        """Delete the queue and its SCHEDULED runs (they could never be admitted)."""
        pk = schema.pool_pk(queue.pool_id)
        not_default = "attribute_not_exists(#pk) OR #default_q <> :queue"
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
                    lambda _: Conflict(
                        f"work queue {queue.name!r} is its pool's default queue and cannot be "
                        "deleted; delete the pool instead"
                    ),
                ),
                delete(
                    schema.key(pk, schema.queue_sk(queue.id)),
                    NotFound(f"work queue {queue.name!r} not found"),
                ),
                delete(schema.key(pk, schema.queue_name_sk(queue.name))),
                delete(schema.key(schema.queue_pointer_pk(queue.id), schema.QUEUE_POINTER_SK)),
            ]
        )
        self._table.batch_delete(self._scheduled_run_keys(queue.id))

    def _scheduled_run_keys(self, queue_id: str) -> list[dict[str, Any]]:
        items = self._table.query(
            IndexName=schema.SCHEDULED_INDEX,
            KeyConditionExpression="#sched_q = :queue",
            ProjectionExpression="#pk, #sk",
            ExpressionAttributeNames={"#sched_q": "sched_q", "#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={":queue": s(queue_id)},
        )
        return [schema.key(get_s(i, "pk") or "", get_s(i, "sk") or "") for i in items]

    def record_poll(self, pool_id: str, queue_ids: Sequence[str], at: datetime) -> None:
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

    # -- workers ----------------------------------------------------------------
    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker:
        """Create or refresh a worker; an omitted interval keeps the known one.

        A known worker is refreshed with one update (its item exists only
        while its pool does: deleting a pool sweeps its workers).  A new
        worker is written in a transaction that checks the pool exists.
        """
        update = "SET #worker = :name, #hb = :at, #created = if_not_exists(#created, :at)"
        values: dict[str, Any] = {":name": s(name), ":at": s(stamp(at))}
        if interval_seconds is not None:
            update += ", #interval = :interval"
            values[":interval"] = n(interval_seconds)
        key = schema.key(schema.pool_pk(pool_id), schema.worker_sk(name))
        try:
            response = self._table.conditional(
                "update_item",
                Exists,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=EXISTS,
                ExpressionAttributeNames=names(update, EXISTS),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return worker_from(response["Attributes"])
        except Exists:
            pass
        self._table.transact(
            [
                Op(
                    {
                        "ConditionCheck": {
                            "Key": schema.key(schema.pool_pk(pool_id), schema.SLOTS_SK),
                            "ConditionExpression": EXISTS,
                            "ExpressionAttributeNames": names(EXISTS),
                        }
                    },
                    lambda _: NotFound(f"work pool with id {pool_id!r} not found"),
                ),
                Op(
                    {
                        "Update": {
                            "Key": key,
                            "UpdateExpression": update,
                            "ExpressionAttributeNames": names(update),
                            "ExpressionAttributeValues": values,
                        }
                    },
                    lambda _: Conflict(f"worker {name!r} could not be recorded"),
                ),
            ]
        )
        item = self._table.get(key)
        if item is None:  # deleted between the two requests
            raise NotFound(f"worker {name!r} not found")
        return worker_from(item)

    def list_workers(self, pool_id: str) -> list[Worker]:
        items = self._table.query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": s(schema.pool_pk(pool_id)),
                ":prefix": s(schema.WORKER_PREFIX),
            },
            ConsistentRead=True,
        )
        workers = sorted((worker_from(i) for i in items), key=lambda w: w.name)
        return sorted(workers, key=lambda w: w.last_heartbeat_time, reverse=True)

    def delete_worker(self, pool_id: str, name: str) -> None:
        self._table.conditional(
            "delete_item",
            lambda _: NotFound(f"worker {name!r} not found"),
            Key=schema.key(schema.pool_pk(pool_id), schema.worker_sk(name)),
            ConditionExpression=EXISTS,
            ExpressionAttributeNames=names(EXISTS),
        )
