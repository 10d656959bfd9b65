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

from core.errors import NotFound
from core.models import FlowRun
from core.states import SLOT_HOLDING, StateType
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_s, names, parse_stamp, s, stamp
from core.store.dynamodb.codec import shard as shard_of
from core.store.dynamodb.items import run_from
from core.store.dynamodb.ops import Exists
from core.store.dynamodb.run_writes import RunWrites
from core.store.dynamodb.table import Op, Table

MICROSECOND = timedelta(microseconds=1)
HAS_DUE_PAGE = 4


def _upper(before: datetime) -> str:
    """A sort-key bound just past every ``<time>#...`` key with time <= ``before``."""
    return stamp(before + MICROSECOND)


class Runs:
    """Flow runs by id, by filter, due (per pool and queue) and slot-holding."""

    def __init__(self, table: Table, writes: RunWrites, *, shards: int) -> None:
        self._table = table
        self._writes = writes
        self._shards = shards

    def create_run(self, run: FlowRun) -> bool:
        """One put (a transaction with both counters if the run starts holding slots)."""
        new = "attribute_not_exists(#pk)"
        put = {
            "Item": self._writes.run_item(run),
            "ConditionExpression": new,
            "ExpressionAttributeNames": names(new),
        }
        try:
            if run.state_type in SLOT_HOLDING:
                self._table.transact([Op({"Put": put}, Exists), self._writes.take_op(run)])
            else:
                self._table.conditional("put_item", Exists, **put)
        except Exists:
            return False
        return True

    def get_run(self, run_id: str) -> FlowRun:
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
        """Newest scheduled time first.

        Asking only for slot holders reads the ``active`` index, and only for
        SCHEDULED runs of a pool or queues the ``scheduled`` index, so those
        cost what they return.  Anything else walks the ``runs`` index.
        """
        if (queue_ids is not None and not queue_ids) or limit <= 0:
            return []
        states = None if state_types is None else frozenset(state_types)
        if states is not None and not states:
            return []
        if states is not None and states <= SLOT_HOLDING:
            found = self.list_active(pool_id)
        elif states == frozenset({StateType.SCHEDULED}) and (pool_id or queue_ids):
            found = self._newest_scheduled(queue_ids or self._queue_ids(pool_id or ""), limit)
        else:
            return self._walk_runs_index(pool_id, queue_ids, deployment_id, states, limit)
        wanted = [
            r
            for r in found
            if (pool_id is None or r.work_pool_id == pool_id)
            and (queue_ids is None or r.work_queue_id in queue_ids)
            and (deployment_id is None or r.deployment_id == deployment_id)
            and (states is None or r.state_type in states)
        ]
        wanted.sort(key=lambda r: (r.next_scheduled_start_time, r.id), reverse=True)
        return wanted[:limit]

    def _newest_scheduled(self, queue_ids: Sequence[str], limit: int) -> list[FlowRun]:
        """The ``limit`` latest SCHEDULED runs of each queue (enough for any merge)."""
        found: list[FlowRun] = []
        for queue_id in queue_ids:
            items = self._table.query(
                IndexName=schema.SCHEDULED_INDEX,
                KeyConditionExpression="#sched_q = :queue",
                ExpressionAttributeNames={"#sched_q": "sched_q"},
                ExpressionAttributeValues={":queue": s(queue_id)},
                ScanIndexForward=False,
                Limit=min(limit, 1000),
            )
            found += [run_from(item) for item in islice(items, limit)]
        return found

    def _walk_runs_index(
        self,
        pool_id: str | None,
        queue_ids: Sequence[str] | None,
        deployment_id: str | None,
        states: frozenset[StateType] | None,
        limit: int,
    ) -> list[FlowRun]:
        """Merge the ``runs`` shards newest first; pool, queue and deployment
        filter inside DynamoDB, the state on documents fetched 100 at a time,
        reading only as far as ``limit`` needs."""
        condition, values = _id_filter(
            pool_id=[pool_id] if pool_id else None,
            queue_id=queue_ids,
            dep_id=[deployment_id] if deployment_id else None,
        )
        streams = [self._index_stream(k, condition, values) for k in range(self._shards)]
        entries = heapq.merge(*streams, reverse=True)
        found: list[FlowRun] = []
        while len(found) < limit:
            batch = [key for _, key in islice(entries, 100)]
            if not batch:
                break
            docs = {r.id: r for r in map(run_from, self._table.batch_get(batch))}
            ordered = (docs.get((get_s(k, "pk") or "").removeprefix("R#")) for k in batch)
            found += [r for r in ordered if r and (states is None or r.state_type in states)]
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

    def list_due(
        self,
        pool_id: str,
        before: datetime,
        *,
        queue_id: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        """One query per queue of the pool (or of ``queue_id``) on the
        ``scheduled`` index, each stopping after ``limit`` runs."""
        queue_ids = self._queue_ids(pool_id) if queue_id is None else [queue_id]
        runs = [run for q in queue_ids for run in self.queue_due(q, before, limit=limit)]
        runs = [run for run in runs if run.work_pool_id == pool_id]
        runs.sort(key=lambda r: (r.next_scheduled_start_time, r.id))
        return runs if limit is None else runs[: max(limit, 0)]

    def _queue_ids(self, pool_id: str) -> list[str]:
        items = self._table.partition(
            schema.pool_pk(pool_id), prefix=schema.QUEUE_PREFIX, projection="#sk"
        )
        return [(get_s(item, "sk") or "").removeprefix(schema.QUEUE_PREFIX) for item in items]

    def queue_due(
        self, queue_id: str, before: datetime, *, limit: int | None = None
    ) -> list[FlowRun]:
        """SCHEDULED runs of one queue due by ``before`` in (time, id) order,
        the first ``limit`` of them if given: a page of ``limit`` items, more
        only if some turned out to be no longer SCHEDULED."""
        if limit is not None and limit <= 0:
            return []
        params: dict[str, Any] = {
            "IndexName": schema.SCHEDULED_INDEX,
            "KeyConditionExpression": "#sched_q = :queue AND #sched_t < :upper",
            "ExpressionAttributeNames": {"#sched_q": "sched_q", "#sched_t": "sched_t"},
            "ExpressionAttributeValues": {":queue": s(queue_id), ":upper": s(_upper(before))},
        }
        if limit is not None:
            params["Limit"] = min(limit, 1000)
        items = self._table.query(**params)
        due = (
            run_from(item) for item in items if get_s(item, "state") == StateType.SCHEDULED.value
        )
        return list(due if limit is None else islice(due, limit))

    def has_due(self, pool_id: str, before: datetime) -> bool:
        """A short query per queue of the pool that stops at the first due run
        (half a read unit each), so a backlog of any size costs the same."""
        return any(self._queue_has_due(q, before) for q in self._queue_ids(pool_id))

    def _queue_has_due(self, queue_id: str, before: datetime) -> bool:
        items = self._table.query(
            IndexName=schema.SCHEDULED_INDEX,
            KeyConditionExpression="#sched_q = :queue AND #sched_t < :upper",
            ExpressionAttributeNames={"#sched_q": "sched_q", "#sched_t": "sched_t"},
            ExpressionAttributeValues={":queue": s(queue_id), ":upper": s(_upper(before))},
            # a few at a time: an entry the index has not yet dropped (a run
            # claimed a moment ago) is skipped without reading the whole backlog
            Limit=HAS_DUE_PAGE,
        )
        return any(get_s(item, "state") == StateType.SCHEDULED.value for item in items)

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
                when, pool_id = (get_s(item, "due_t") or "").split("#", 1)
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


def _id_filter(**wanted: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """A filter expression "attr IN (...)" for every attribute given values."""
    clauses: list[str] = []
    values: dict[str, Any] = {}
    for attr, options in wanted.items():
        if options is None:
            continue
        marks = [f":{attr}{i}" for i in range(len(options))]
        clauses.append(f"#{attr} IN ({', '.join(marks)})")
        values |= {m: s(v) for m, v in zip(marks, options, strict=True)}
    return " AND ".join(clauses), values


def _holds_slot(item: Item) -> bool:
    return get_s(item, "state") in {t.value for t in SLOT_HOLDING}
