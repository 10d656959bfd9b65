"""How each domain object becomes an item, and back.

A model travels as compressed JSON (``doc``) beside the attributes that keys,
indexes and conditions need.  The few fields that change without a version
bump (a queue's ``last_polled``, a pool's ``last_dispatched``) and the slot
counters live in their own attributes or items (the counters of a pool and
all its queues on one item, see ``counters``), so frequent small writes
never rewrite a large document.
"""

from __future__ import annotations

from datetime import timedelta

from core.models import Deployment, FlowRun, Worker, WorkPool, WorkQueue
from core.states import SLOT_HOLDING, StateType
from core.store.dynamodb import schema
from core.store.dynamodb.codec import (
    Item,
    epoch_seconds,
    get_n,
    get_s,
    n,
    pack,
    parse_stamp,
    s,
    shard,
    stamp,
    unpack,
)

# -- pools and queues -------------------------------------------------------------


def pool_doc_item(pool: WorkPool) -> Item:
    return {
        **schema.key(schema.pool_pk(pool.id), schema.POOL_SK),
        "name": s(pool.name),
        "version": n(pool.version),
        "default_q": s(pool.default_queue_id),
        "doc": pack(pool, exclude={"last_dispatched", "dispatch_problem"}),
    }


def pool_from(items: list[Item]) -> WorkPool | None:
    """The pool from its document, slot and last-seen items (any order)."""
    by_sk = {get_s(item, "sk"): item for item in items}
    doc = by_sk.get(schema.POOL_SK)
    if doc is None:
        return None
    pool = unpack(doc, WorkPool)
    seen_item = by_sk.get(schema.SEEN_SK, {})
    seen = get_s(seen_item, "at")
    if seen is not None:
        pool = pool.model_copy(update={"last_dispatched": parse_stamp(seen)})
    problem = get_s(seen_item, "problem")
    if problem is not None:
        pool = pool.model_copy(update={"dispatch_problem": problem})
    return pool


def queue_item(queue: WorkQueue) -> Item:
    item = {
        **schema.key(schema.pool_pk(queue.pool_id), schema.queue_sk(queue.id)),
        "name": s(queue.name),
        "version": n(queue.version),
        "doc": pack(queue, exclude={"last_polled"}),
    }
    if queue.last_polled is not None:
        item["polled"] = s(stamp(queue.last_polled))
    return item


def queue_from(item: Item) -> WorkQueue:
    queue = unpack(item, WorkQueue)
    polled = get_s(item, "polled")
    return queue.model_copy(update={"last_polled": parse_stamp(polled) if polled else None})


def worker_from(item: Item) -> Worker:
    heartbeat = get_s(item, "hb") or ""
    created = get_s(item, "created") or heartbeat
    return Worker(
        pool_id=(get_s(item, "pk") or "").removeprefix("P#"),
        name=get_s(item, "worker") or "",
        last_heartbeat_time=parse_stamp(heartbeat),
        heartbeat_interval_seconds=get_n(item, "interval"),
        created=parse_stamp(created),
    )


# -- deployments -------------------------------------------------------------------


def deployment_item(deployment: Deployment) -> Item:
    return {
        **schema.key(schema.DEPLOYMENTS, deployment.id),
        "version": n(deployment.version),
        "flow_name": s(deployment.flow_name),
        "name": s(deployment.name),
        "pool_name": s(deployment.work_pool_name),
        "doc": pack(deployment),
        # Any write puts the deployment where the tick looks for schedules to extend.
        "sched_q": s(schema.DEPLOYMENT_SCHEDULES),
        "sched_t": s(schema.UNMATERIALISED),
    }


def deployment_name_item(deployment: Deployment) -> Item:
    return {
        **schema.key(schema.deployment_name_pk(deployment.flow_name), deployment.name),
        "dep_id": s(deployment.id),
    }


# -- runs --------------------------------------------------------------------------


def run_item(run: FlowRun, *, shards: int, retention: timedelta) -> Item:
    """The run item, carrying exactly the index keys its state calls for.

    SCHEDULED runs carry the ``scheduled`` and ``due`` index keys; slot
    holders the ``active`` keys; finished runs a TTL.  A state change is a
    whole-item put, so keys the new state does not want simply disappear.
    """
    when = stamp(run.next_scheduled_start_time)
    item: Item = {
        **schema.key(schema.run_pk(run.id), schema.RUN_SK),
        "version": n(run.version),
        "state": s(run.state_type.value),
        "pool_id": s(run.work_pool_id),
        "queue_id": s(run.work_queue_id),
        "runs_s": s(f"RUNS#{shard(run.id, shards)}"),
        "runs_t": s(f"{when}#{run.id}"),
        "doc": pack(run),
    }
    if run.deployment_id is not None:
        item["dep_id"] = s(run.deployment_id)
    if run.state_type is StateType.SCHEDULED:
        item["sched_q"] = s(run.work_queue_id)
        # time#id: a queue's due runs read in (time, id) order, as a bounded
        # read needs (an older item's bare time still sorts by time).
        item["sched_t"] = s(f"{when}#{run.id}")
        item["due_s"] = s(f"DUE#{shard(run.id, shards)}")
        item["due_t"] = s(f"{when}#{run.work_pool_id}")
    if run.state_type in SLOT_HOLDING:
        item["act_s"] = s(f"ACTIVE#{shard(run.work_pool_id, shards)}")
        item["act_k"] = s(f"{run.work_pool_id}#{run.id}")
    if run.state.is_terminal:
        item[schema.TTL_ATTRIBUTE] = n(epoch_seconds(run.state.timestamp + retention))
    return item


def run_from(item: Item) -> FlowRun:
    return unpack(item, FlowRun)
