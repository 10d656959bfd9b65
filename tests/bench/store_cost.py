"""Store requests, read units and write units for one flow run's life on DynamoDB,
and the size of a pool's counter item (and so a claim's units) as queues are added.

Run it: ``python -m tests.bench.store_cost``.  It drives a ``DynamoStore`` on
an in-process moto table through create, claim, submit, running and
complete, and counts every request with botocore event hooks on the store's
own client.  moto does not report consumed capacity, so units are computed
the way DynamoDB bills them, from the sizes of the items each request read
or wrote (taken from moto's tables before and after the request):

- a write costs ceil(max(old, new item size) / 1 KB) WCU per item, twice
  that inside a transaction; a ConditionCheck costs like a transactional
  write;
- each global secondary index whose entry for the item appears, changes or
  disappears costs ceil(entry size / 1 KB) WCU per entry written or
  deleted (a key change is a delete plus a put);
- a read costs ceil(size / 4 KB) RCU, half for an eventually consistent
  read; a query rounds the sum of the items it returned.

Item size follows DynamoDB's rule: attribute names plus values (UTF-8
bytes for strings, about one byte per two digits for numbers, one byte for
booleans, three bytes plus contents for maps and lists).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core.store.dynamodb import schema

KB = 1024
READ_BLOCK = 4 * KB
# us-east-1 on-demand list prices since November 2024, in dollars per million units.
PRICE_PER_MILLION_WRITES = 0.625
PRICE_PER_MILLION_READS = 0.125

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: element}) for element in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def index_entry(item: dict[str, Any] | None, index: tuple[str, str, str, dict[str, Any]]):
    """The item's entry in ``index`` (None if the item is absent from the sparse index)."""
    _name, partition, sort, projection = index
    if not item or partition not in item or sort not in item:
        return None
    kind = projection["ProjectionType"]
    if kind == "ALL":
        return dict(item)
    keep = {"pk", "sk", partition, sort} | set(projection.get("NonKeyAttributes", ()))
    return {k: v for k, v in item.items() if k in keep}


def index_write_units(old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
    units = 0
    for index in schema.INDEXES:
        before, after = index_entry(old, index), index_entry(new, index)
        if before == after:
            continue
        _, partition, sort, _ = index
        same_key = (
            before is not None
            and after is not None
            and (before[partition], before[sort]) == (after[partition], after[sort])
        )
        if same_key:
            units += math.ceil(max(item_size(before), item_size(after)) / KB)
            continue
        for entry in (before, after):
            if entry is not None:
                units += math.ceil(item_size(entry) / KB)
    return units


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    rcu: float = 0.0
    wcu: float = 0.0
    index_wcu: float = 0.0

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    @property
    def write_requests(self) -> int:
        return sum(n for op, n in self.requests.items() if op in WRITES)

    def add(self, other: Tally) -> None:
        self.requests.update(other.requests)
        self.rcu += other.rcu
        self.wcu += other.wcu
        self.index_wcu += other.index_wcu


class CostMeter:
    """Counts a client's DynamoDB requests and the units each one consumed."""

    def __init__(self, client: Any, table_name: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][client.meta.region_name]
        self._table = table_name
        self.steps: dict[str, Tally] = {}
        self.counter_items: dict[int, tuple[int, float]] = {}  # queues: (bytes, claim WCU)
        self._current: Tally | None = None
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    @contextmanager
    def step(self, label: str) -> Iterator[Tally]:
        tally = self.steps.setdefault(label, Tally())
        self._current = tally
        try:
            yield tally
        finally:
            self._current = None

    # -- hooks ------------------------------------------------------------------------

    def _stored(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._backend.get_item(self._table, {"pk": key["pk"], "sk": key["sk"]})
        return None if item is None else item.to_json()["Attributes"]

    def _written_keys(self, operation: str, params: dict[str, Any]) -> list[tuple[dict, bool]]:
        """(key, transactional) for every item a write request touches."""
        if operation == "PutItem":
            return [(params["Item"], False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["Key"], False)]
        if operation == "BatchWriteItem":
            requests = [r for batch in params["RequestItems"].values() for r in batch]
            return [
                (r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"], False)
                for r in requests
            ]
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                found.append((body["Item"] if kind == "Put" else body["Key"], True))
            return found
        return []

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any):
        if self._current is None:
            return
        touched = self._written_keys(model.name, params)
        context["pushpool_cost"] = [
            (key, transactional, self._stored(key)) for key, transactional in touched
        ]
        context["pushpool_params"] = params

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any):
        if self._current is None:
            return
        tally = self._current
        operation = model.name
        tally.requests[operation] += 1
        if "Error" in parsed:
            return
        for key, transactional, old in context.get("pushpool_cost", []):
            new = self._stored(key)
            units = math.ceil(max(item_size(old), item_size(new), 1) / KB)
            tally.wcu += units * (2 if transactional else 1)
            tally.index_wcu += index_write_units(old, new)
        params = context.get("pushpool_params", {})
        tally.rcu += _read_units(operation, params, parsed)


def _read_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
    consistent = bool(params.get("ConsistentRead"))
    factor = 1.0 if consistent else 0.5
    if operation == "GetItem":
        return math.ceil(max(item_size(parsed.get("Item")), 1) / READ_BLOCK) * factor
    if operation == "Query":
        total = sum(item_size(item) for item in parsed.get("Items", []))
        return math.ceil(max(total, 1) / READ_BLOCK) * factor
    if operation == "BatchGetItem":
        items = [i for found in parsed.get("Responses", {}).values() for i in found]
        return sum(math.ceil(max(item_size(i), 1) / READ_BLOCK) for i in items) * 1.0
    return 0.0


# -- the measurement ---------------------------------------------------------------------

LIFE = ("create", "claim", "submit", "running", "complete")


def measure_run_life(region: str = "us-east-1") -> tuple[CostMeter, dict[str, int]]:
    """One run's life on a fresh moto table; returns the meter and item sizes.

    Must be called inside ``moto.mock_aws()`` with fake credentials set.
    """
    import boto3

    from core.states import StateType
    from core.store.dynamodb.schema import create_table
    from core.store.dynamodb.store import DynamoStore
    from tests.contract.builders import NOW, add_pool, make_run, pending, state

    client = boto3.client("dynamodb", region_name=region)
    create_table(client, "cost")
    store = DynamoStore("cost", client=client)
    pool, queue = add_pool(store, "etl", limit=10, default_limit=5)
    run = make_run(pool, queue, deployment_id="d6a1c1f0-7f4e-4bb0-9d8e-6b1c5d0f3a21").model_copy(
        update={"parameters": {"date": "2026-01-01", "region": "eu-west-1"}}
    )
    meter = CostMeter(client, "cost")
    sizes: dict[str, int] = {}

    def size_now() -> int:
        key = schema.key(schema.run_pk(run.id), schema.RUN_SK)
        return item_size(meter._stored(key))

    with meter.step("create"):
        store.create_run(run)
    sizes["create"] = size_now()
    with meter.step("claim"):
        claimed = store.claim(run, state=pending(NOW), lease_expires=NOW + timedelta(minutes=5))
    sizes["claim"] = size_now()
    with meter.step("submit"):
        submitted = store.mark_submitted(claimed, infrastructure_pid="arn:aws:ecs:task/1", at=NOW)
    sizes["submit"] = size_now()
    with meter.step("running"):
        running = store.record_state(submitted, state(StateType.RUNNING, NOW))
    sizes["running"] = size_now()
    with meter.step("complete"):
        store.record_state(running, state(StateType.COMPLETED, NOW + timedelta(minutes=3)))
    sizes["complete"] = size_now()

    for _ in range(3):  # a dispatcher pass over a pool with three due runs
        store.create_run(make_run(pool, queue))
    with meter.step("dispatch pass: due_pools"):
        store.due_pools(NOW)
    with meter.step("dispatch pass: list_due (1 queue)"):
        store.list_due(pool.id, NOW)
    with meter.step("dispatch pass: counters"):
        store.counters(pool.id)
    meter.counter_items = measure_counter_items(store, meter)
    return meter, sizes


QUEUE_COUNTS = (1, 5, 20, 40)


def measure_counter_items(store: Any, meter: CostMeter) -> dict[int, tuple[int, float]]:
    """The pool's counter item holds every queue's counter, pause flag and
    limit: its size and a claim's table WCU for pools of ``QUEUE_COUNTS``
    queues, each with a limit and a slot held (every attribute present: the
    largest an item gets)."""
    from tests.contract.builders import NOW, add_pool, add_queue, add_run, pending

    found: dict[int, tuple[int, float]] = {}
    lease = NOW + timedelta(minutes=5)
    for count in QUEUE_COUNTS:
        pool, queue = add_pool(store, f"queues-{count}", limit=100, default_limit=10)
        queues = [queue]
        for index in range(1, count):
            queues.append(add_queue(store, pool, f"q{index}", priority=index + 1, limit=10))
        for each in queues:  # every queue has held a slot, so each carries its stamp
            store.claim(add_run(store, pool, each), state=pending(NOW), lease_expires=lease)
        run = add_run(store, pool, queue)
        with meter.step(f"claim, pool of {count} queues") as tally:
            store.claim(run, state=pending(NOW), lease_expires=lease)
        key = schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK)
        found[count] = (item_size(meter._stored(key)), tally.wcu)
    return found


def report(meter: CostMeter, sizes: dict[str, int]) -> str:
    lines = [
        f"{'step':36} {'requests':>8} {'RCU':>6} {'WCU':>6} {'index WCU':>9} {'run item':>9}",
    ]
    total = Tally()
    for label, tally in meter.steps.items():
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(tally.requests.items()))
        size = f"{sizes[label]} B" if label in sizes else ""
        lines.append(
            f"{label:36} {tally.request_count:>8} {tally.rcu:>6.1f} {tally.wcu:>6.1f} "
            f"{tally.index_wcu:>9.1f} {size:>9}   {ops}"
        )
        if label in LIFE:
            total.add(tally)
    units = total.wcu + total.index_wcu
    per_million = (units * PRICE_PER_MILLION_WRITES) + (total.rcu * PRICE_PER_MILLION_READS)
    lines += [
        f"{'one run, create to complete':36} {total.request_count:>8} {total.rcu:>6.1f} "
        f"{total.wcu:>6.1f} {total.index_wcu:>9.1f}",
        f"write units per run: {units:.0f}; about ${per_million:.2f} per million runs "
        "(us-east-1 on-demand; reads by the dispatcher and API not included)",
    ]
    counter_items = meter.counter_items
    if counter_items:
        lines.append(
            "pool counter item (every queue with a limit and a held slot): "
            + "; ".join(
                f"{count} queue{'s' if count > 1 else ''} {size} B, claim {wcu:.0f} WCU"
                for count, (size, wcu) in counter_items.items()
            )
            + " (2 WCU for the run + 2 per started KB of the counter item)"
        )
    return "\n".join(lines)


def main() -> None:
    import os

    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    with mock_aws():
        meter, sizes = measure_run_life()
    print(report(meter, sizes))


if __name__ == "__main__":
    main()
