"""Workers on DynamoDB: one small item per worker in its pool's partition.

Deleting a pool sweeps its partition, so a worker item exists only while
its pool does; that lets a known worker's heartbeat be a single update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import NotFound
from core.models import Worker
from core.store.dynamodb import schema
from core.store.dynamodb.codec import n, names, s, stamp
from core.store.dynamodb.items import worker_from
from core.store.dynamodb.ops import EXISTS, Exists, must_exist
from core.store.dynamodb.table import Op, Table


class Workers:
    """The workers of each pool, as their heartbeats describe them."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker:
        """Create or refresh a worker; an omitted interval keeps the known one.

        A known worker: one conditional update.  A new worker: a transaction
        that also checks the pool exists, then a read of what was written.
        """
        update = "SET #worker = :name, #hb = :at, #created = if_not_exists(#created, :at)"
        values: dict[str, Any] = {":name": s(name), ":at": s(stamp(at))}
        if interval_seconds is not None:
            update += ", #interval = :interval"
            values[":interval"] = n(interval_seconds)
        key = schema.key(schema.pool_pk(pool_id), schema.worker_sk(name))
        body = {"Key": key, "UpdateExpression": update, "ExpressionAttributeValues": values}
        try:
            response = self._table.conditional(
                "update_item",
                Exists,
                ConditionExpression=EXISTS,
                ExpressionAttributeNames=names(update, EXISTS),
                ReturnValues="ALL_NEW",
                **body,
            )
            return worker_from(response["Attributes"])
        except Exists:
            pass
        pool_counter = schema.key(schema.pool_pk(pool_id), schema.SLOTS_SK)
        missing = NotFound(f"work pool with id {pool_id!r} not found")
        first = Op(
            {"Update": {**body, "ExpressionAttributeNames": names(update)}},
            lambda _: NotFound(f"worker {name!r} could not be recorded"),
        )
        self._table.transact([must_exist(pool_counter, missing), first])
        item = self._table.get(key)
        if item is None:  # deleted between the two requests
            raise NotFound(f"worker {name!r} not found")
        return worker_from(item)

    def list_workers(self, pool_id: str) -> list[Worker]:
        """Most recent heartbeat first, then by name."""
        items = self._table.partition(schema.pool_pk(pool_id), prefix=schema.WORKER_PREFIX)
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
