"""Work pools on DynamoDB.

A pool's items share one partition (``P#<pool id>``): its document, its
small slot-counter item (the pool's and every queue's counters), its last
dispatcher pass, its queues, its queue-name claims and its workers.  A pool name is claimed by an item in the
``POOLNAME`` partition, written in the same transaction as the pool, which
also makes listing pools one query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import Conflict, NotFound
from core.models import WorkPool, WorkQueue
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_s, n, names, s, stamp
from core.store.dynamodb.counters import counter_item
from core.store.dynamodb.items import pool_doc_item, pool_from
from core.store.dynamodb.ops import EXISTS, delete, put, put_new, put_versioned, rename_ops
from core.store.dynamodb.queues import Queues
from core.store.dynamodb.table import Op, Table


class Pools:
    """Pools and the dispatcher's marks on them (last pass, last problem)."""

    def __init__(self, table: Table, queues: Queues) -> None:
        self._table = table
        self._queues = queues  # a new pool's default queue; a deleted pool's queues

    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None:
        """One transaction: name claim, document, counter item (with the default
        queue's counter), last-seen, default queue."""
        duplicate = Conflict(f"a work pool named {pool.name!r} already exists")
        name_claim = {**schema.key(schema.POOL_NAMES, pool.name), "pool_id": s(pool.id)}
        self._table.transact(
            [
                put_new(name_claim, duplicate),
                put_new(pool_doc_item(pool), Conflict(f"a work pool with id {pool.id!r} exists")),
                put(counter_item(pool, default_queue)),
                put(schema.key(schema.pool_pk(pool.id), schema.SEEN_SK)),
                *self._queues.queue_ops(default_queue),
            ]
        )

    def get_pool(self, name: str) -> WorkPool:
        item = self._table.get(schema.key(schema.POOL_NAMES, name))
        if item is None:
            raise NotFound(f"work pool {name!r} not found")
        return self.get_pool_by_id(get_s(item, "pool_id") or "")

    def get_pool_by_id(self, pool_id: str) -> WorkPool:
        """One query reads the document, the counter and the last-seen item."""
        items = self._table.partition(schema.pool_pk(pool_id), prefix=schema.POOL_PREFIX)
        pool = pool_from(list(items))
        if pool is None:
            raise NotFound(f"work pool with id {pool_id!r} not found")
        return pool

    def list_pools(self) -> list[WorkPool]:
        """The name claims (one query), then documents in batches of 100 keys."""
        pool_ids = [
            get_s(item, "pool_id") or "" for item in self._table.partition(schema.POOL_NAMES)
        ]
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
        """Rewrite the document (version-checked) and mirror pause and limit onto
        the counter item, where claims check them; move the name claim on rename."""
        stored = self.get_pool_by_id(pool.id)
        new = pool.model_copy(
            update={
                "version": pool.version + 1,
                "last_dispatched": stored.last_dispatched,
                "dispatch_problem": stored.dispatch_problem,
            }
        )
        what = f"work pool {pool.name!r}"
        ops = [
            put_versioned(pool_doc_item(new), expected=pool.version, what=what),
            _settings_op(pool, NotFound(f"{what} not found")),
        ]
        if stored.name != pool.name:
            ops += rename_ops(
                schema.POOL_NAMES,
                old_sk=stored.name,
                new_sk=pool.name,
                attr="pool_id",
                owner=pool.id,
                error=Conflict(f"a work pool named {pool.name!r} already exists"),
            )
        self._table.transact(ops)
        return new

    def delete_pool(self, pool: WorkPool) -> None:
        """Delete the pool at once, then sweep its queues, workers and SCHEDULED runs.

        The first transaction removes the pool and its counter, so no claim
        can succeed afterwards; the sweep then takes as many requests as the
        pool has items (a cascade can exceed one transaction's 100 items).
        Deleting a pool that is already gone sweeps again before raising
        ``NotFound``, so a sweep cut short by a crash can be finished.
        """
        pk = schema.pool_pk(pool.id)
        try:
            stored = self.get_pool_by_id(pool.id)
            self._table.transact(
                [
                    delete(
                        schema.key(pk, schema.POOL_SK),
                        NotFound(f"work pool {pool.name!r} not found"),
                    ),
                    delete(schema.key(pk, schema.SLOTS_SK)),
                    delete(schema.key(pk, schema.SEEN_SK)),
                    delete(schema.key(schema.POOL_NAMES, stored.name)),
                ]
            )
        except NotFound as exc:
            self._sweep(pk)
            raise NotFound(f"work pool {pool.name!r} not found") from exc
        self._sweep(pk)

    def _sweep(self, pk: str) -> None:
        """Delete a deleted pool's SCHEDULED runs, then its queues and workers
        (runs first: the queues are how a retried sweep finds them)."""
        items = list(self._table.partition(pk, projection="#pk, #sk"))
        queue_ids = [
            sk.removeprefix(schema.QUEUE_PREFIX)
            for sk in (get_s(item, "sk") or "" for item in items)
            if sk.startswith(schema.QUEUE_PREFIX)
        ]
        self._table.batch_delete(
            [key for q in queue_ids for key in self._queues.scheduled_run_keys(q)]
        )
        keys = [schema.key(schema.queue_pointer_pk(q), schema.QUEUE_POINTER_SK) for q in queue_ids]
        keys += [schema.key(pk, get_s(item, "sk") or "") for item in items]
        self._table.batch_delete(keys)

    def record_dispatch(self, pool_id: str, at: datetime) -> None:
        """Set the last-seen item (not the document: no version bump, small write)."""
        self._update_seen(pool_id, "SET #at = :at", {":at": s(stamp(at))})

    def record_dispatch_problem(self, pool_id: str, problem: str | None) -> None:
        """Kept on the last-seen item too, so pool updates never overwrite it."""
        if problem:
            self._update_seen(pool_id, "SET #problem = :problem", {":problem": s(problem)})
        else:
            self._update_seen(pool_id, "REMOVE #problem", None)

    def _update_seen(self, pool_id: str, update: str, values: dict[str, Any] | None) -> None:
        """One update of an existing pool's last-seen item; a deleted pool's
        dispatch facts are of no interest, so its absence is not an error."""
        try:
            self._table.conditional(
                "update_item",
                lambda _: NotFound("pool gone"),
                Key=schema.key(schema.pool_pk(pool_id), schema.SEEN_SK),
                UpdateExpression=update,
                ConditionExpression=EXISTS,
                ExpressionAttributeNames=names(update, EXISTS),
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except NotFound:
            return


def _settings_op(pool: WorkPool, missing: Exception) -> Op:
    """Copy the pool's pause flag and limit onto its counter item."""
    update = "SET #paused = :paused"
    values: dict[str, Any] = {":paused": {"BOOL": pool.is_paused}}
    if pool.concurrency_limit is None:
        update += " REMOVE #lim"
    else:
        update += ", #lim = :lim"
        values[":lim"] = n(pool.concurrency_limit)
    return Op(
        {
            "Update": {
                "Key": schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
                "UpdateExpression": update,
                "ConditionExpression": EXISTS,
                "ExpressionAttributeNames": names(update, EXISTS),
                "ExpressionAttributeValues": values,
            }
        },
        lambda _: missing,
    )
