"""Reading flow runs on DynamoDB: by id, by filter, due, and slot-holding.

Each run is one item (``R#<run id>``).  Three sparse indexes make the hot
reads cost what they return: ``scheduled`` (per queue, by time) for a pool's
due runs, ``due`` (a few fixed shards, by time) for the pools with due work,
and ``active`` (the same shards) for slot-holding runs.  ``runs`` (every
run, by time, with its pool, queue and deployment ids) serves the filters.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from core.models import FlowRun
from core.states import SLOT_HOLDING, StateType
from core.store.dynamo import schema
from core.store.dynamo.base import DynamoBase, Exists
from core.store.dynamo.codec import Item, get_s, names, parse_stamp, s, stamp
from core.store.dynamo.codec import shard as shard_of
from core.store.dynamo.items import run_from
from core.store.dynamo.table import Op

MICROSECOND = timedelta(microseconds=1)


def _upper(before: datetime) -> str:
    """A sort-key bound just past every ``<time>#...`` key with time <= ``before``."""
    return stamp(before + MICROSECOND)


class RunsMixin(DynamoBase):
    def create_run(self, run: FlowRun) -> bool:
        """One put (a transaction with both counters if the run starts holding slots)."""
        new = "attribute_not_exists(#pk)"
        put = {
            "Item": self._run_item(run),
            "ConditionExpression": new,
            "ExpressionAttributeNames": names(new),
        }
        try:
            if run.state_type in SLOT_HOLDING:
                self._table.transact([Op({"Put": put}, Exists), *self.take_ops(run)])
            else:
                self._table.conditional("put_item", Exists, **put)
        except Exists:
            return False
        return True

    def get_run(self, run_id: str) -> FlowRun:
        from core.errors import NotFound  # noqa: PLC0415 - keep the module header short

        item = self._table.get(schema.key(schema.run_pk(run_id), schema.RUN_SK))
        if item is None:
            raise NotFound(f"flow run {run_id!r} not found")
        return run_from(item)

    # -- filters --------------------------------------------------------------------

    def list_runs(
        self,
        *,
        pool_id: str | None = None,
        queue_ids: Sequence[str] | None = None,
        deployment_id: str | None = None,
        state_types: Sequence[StateType] | None = None,
        limit: int = 200,
    ) -> list[FlowRun]:
        """Newest scheduled time first, from the ``runs`` index.

        The index entries carry pool, queue and deployment ids, so those
        filters run inside DynamoDB; the state filter needs the documents,
        fetched 100 at a time, so it reads only as far as ``limit`` needs.
        """
        if (
            (queue_ids is not None and not queue_ids)
            or (state_types is not None and not state_types)
            or limit <= 0
        ):
            return []
        filters: list[str] = []
        values: dict[str, Any] = {}
        for attr, wanted in (
            ("pool_id", [pool_id] if pool_id else None),
            ("queue_id", queue_ids),
            ("dep_id", [deployment_id] if deployment_id else None),
        ):
            if wanted is None:
                continue
            marks = [f":{attr}{i}" for i in range(len(wanted))]
            filters.append(f"#{attr} IN ({', '.join(marks)})")
            values |= {m: s(v) for m, v in zip(marks, wanted, strict=True)}
        wanted_states = None if state_types is None else {t.value for t in state_types}
        streams = [
            self._index_stream(k, " AND ".join(filters), values) for k in range(self._shards)
        ]
        entries = heapq.merge(*streams, reverse=True)
        found: list[FlowRun] = []
        while len(found) < limit:
            batch = [key for _, key in islice(entries, 100)]
            if not batch:
                break
            docs = {r.id: r for r in map(run_from, self._table.batch_get(batch))}
            for key in batch:
                run = docs.get((get_s(key, "pk") or "").removeprefix("R#"))
                if run is not None and (
                    wanted_states is None or run.state_type.value in wanted_states
                ):
                    found.append(run)
        return found[:limit]

    def _index_stream(
        self, shard: int, condition: str, values: dict[str, Any]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(sort key, item key) of one ``runs`` shard, newest first, lazily paged."""
        params: dict[str, Any] = {
            "IndexName": schema.RUNS_INDEX,
            "KeyConditionExpression": "#runs_s = :shard",
            "ExpressionAttributeValues": {":shard": s(f"RUNS#{shard}"), **values},
            "ScanIndexForward": False,
        }
        if condition:
            params["FilterExpression"] = condition
        params["ExpressionAttributeNames"] = names("#runs_s", condition)
        for item in self._table.query(**params):
            yield (
                get_s(item, "runs_t") or "",
                schema.key(get_s(item, "pk") or "", get_s(item, "sk") or ""),
            )

    # -- due and active -------------------------------------------------------------

    def list_due(self, pool_id: str, before: datetime) -> list[FlowRun]:
        """One query per queue of the pool on the ``scheduled`` index."""
        queue_ids = [
            (get_s(item, "sk") or "").removeprefix(schema.QUEUE_PREFIX)
            for item in self._table.query(
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ProjectionExpression="#sk",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": s(schema.pool_pk(pool_id)),
                    ":prefix": s(schema.QUEUE_PREFIX),
                },
                ConsistentRead=True,
            )
        ]
        runs = [run for queue_id in queue_ids for run in self.queue_due(queue_id, before)]
        return sorted(runs, key=lambda r: (r.next_scheduled_start_time, r.id))

    def queue_due(self, queue_id: str, before: datetime) -> list[FlowRun]:
        """SCHEDULED runs of one queue due by ``before``, oldest first."""
        items = self._table.query(
            IndexName=schema.SCHEDULED_INDEX,
            KeyConditionExpression="#sched_q = :queue AND #sched_t < :upper",
            ExpressionAttributeNames={"#sched_q": "sched_q", "#sched_t": "sched_t"},
            ExpressionAttributeValues={":queue": s(queue_id), ":upper": s(_upper(before))},
        )
        return [
            run_from(item) for item in items if get_s(item, "state") == StateType.SCHEDULED.value
        ]

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        """Read only the due entries of the ``due`` index (keys only, a few bytes each)."""
        earliest: dict[str, datetime] = {}
        for shard in range(self._shards):
            items = self._table.query(
                IndexName=schema.DUE_INDEX,
                KeyConditionExpression="#due_s = :shard AND #due_t < :upper",
                ExpressionAttributeNames={"#due_s": "due_s", "#due_t": "due_t"},
                ExpressionAttributeValues={
                    ":shard": s(f"DUE#{shard}"),
                    ":upper": s(_upper(before)),
                },
            )
            for item in items:
                when, pool_id, _run_id = (get_s(item, "due_t") or "").split("#", 2)
                at = parse_stamp(when)
                if pool_id not in earliest or at < earliest[pool_id]:
                    earliest[pool_id] = at
        return earliest

    def list_active(self, pool_id: str | None = None) -> list[FlowRun]:
        """Slot-holding runs from the ``active`` index, scheduled time order.

        A pool's active runs share one shard (chosen by pool id), so one
        pool's list is a single query: one read of one partition.
        """
        condition = "#act_s = :shard"
        values: dict[str, Any] = {}
        shards = range(self._shards)
        if pool_id is not None:
            condition += " AND begins_with(#act_k, :pool)"
            values[":pool"] = s(f"{pool_id}#")
            shards = range(shard_of(pool_id, self._shards), shard_of(pool_id, self._shards) + 1)
        runs: list[FlowRun] = []
        for shard in shards:
            items = self._table.query(
                IndexName=schema.ACTIVE_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names(condition),
                ExpressionAttributeValues={":shard": s(f"ACTIVE#{shard}"), **values},
            )
            runs.extend(run_from(item) for item in items if _holds_slot(item))
        return sorted(runs, key=lambda r: (r.next_scheduled_start_time, r.id))


def _holds_slot(item: Item) -> bool:
    return get_s(item, "state") in {t.value for t in SLOT_HOLDING}
