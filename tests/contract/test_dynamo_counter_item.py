"""The DynamoDB store's counter item: one item per pool holding the pool's and
every queue's slot counter, pause flag and limit (issue 16), its per-queue
settle window, and the upgrade of tables whose queue counters still live on
their ``QUEUE#`` items."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.errors import CapacityFull, InvalidInput, NotFound
from core.states import StateType
from core.store.dynamodb import schema
from core.store.dynamodb.counters import millis
from core.store.dynamodb.schema import create_table, migrate_queue_counters
from core.store.dynamodb.store import DynamoStore
from core.store.dynamodb.table import Backoff
from tests.clock import FakeClock
from tests.contract import backends
from tests.contract.builders import NOW, add_pool, add_queue, add_run, claim, make_queue, state

TABLE = "pushpool-counters"
QUEUE_KINDS = ("a", "l", "p", "t")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with backends.moto_dynamodb_table(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


@pytest.fixture
def dynamo(client: Any, clock: FakeClock) -> DynamoStore:
    return DynamoStore(
        TABLE, client=client, clock=clock, sleep=lambda _: None, random=lambda: 0.5,
        backoff=Backoff(attempts=4, base=0.1, cap=0.3),
    )  # fmt: skip


def counter_item(client: Any, pool_id: str) -> dict[str, Any]:
    key = schema.key(schema.pool_pk(pool_id), schema.SLOTS_SK)
    return client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]


def queue_item(client: Any, pool_id: str, queue_id: str) -> dict[str, Any]:
    key = schema.key(schema.pool_pk(pool_id), schema.queue_sk(queue_id))
    return client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]


def counts(store: DynamoStore, pool_id: str) -> tuple[int, dict[str, int]]:
    counters = store.counters(pool_id)
    return counters.pool_active, counters.queue_active


# -- the layout ----------------------------------------------------------------------------


def test_the_pool_item_holds_every_queues_counter_and_settings(dynamo, client):
    pool, default = add_pool(dynamo, limit=4, default_limit=2)
    extra = add_queue(dynamo, pool, "extra", priority=2)
    claim(dynamo, add_run(dynamo, pool, extra))
    dynamo.update_queues([extra.model_copy(update={"is_paused": True, "concurrency_limit": 7})])

    item = counter_item(client, pool.id)

    assert item[f"a:{default.id}"] == {"N": "0"} and item[f"l:{default.id}"] == {"N": "2"}
    assert item[f"a:{extra.id}"] == {"N": "1"} and item[f"l:{extra.id}"] == {"N": "7"}
    assert item[f"p:{extra.id}"] == {"BOOL": True} and f"p:{default.id}" not in item
    assert item[f"t:{extra.id}"] == {"N": str(millis(NOW))}
    assert not {"active", "paused", "lim", "touched"} & set(queue_item(client, pool.id, extra.id))


def test_unpausing_and_lifting_a_limit_remove_the_attributes(dynamo, client):
    pool, queue = add_pool(dynamo, default_limit=1)
    queue = dynamo.update_queues([queue.model_copy(update={"is_paused": True})])[0]
    dynamo.update_queues([queue.model_copy(update={"is_paused": False, "concurrency_limit": None})])

    item = counter_item(client, pool.id)

    assert f"p:{queue.id}" not in item and f"l:{queue.id}" not in item
    claim(dynamo, add_run(dynamo, pool, queue))
    claim(dynamo, add_run(dynamo, pool, queue))  # no limit any more
    assert counts(dynamo, pool.id) == (2, {queue.id: 2})


def test_deleting_a_queue_removes_its_attributes_from_the_pool_item(dynamo, client):
    pool, default = add_pool(dynamo)
    extra = add_queue(dynamo, pool, "extra", priority=2, limit=3)
    claim(dynamo, add_run(dynamo, pool, extra))

    dynamo.delete_queue(extra)

    item = counter_item(client, pool.id)
    assert not [name for name in item if name.endswith(extra.id)]
    assert counts(dynamo, pool.id) == (1, {default.id: 0})


def test_a_queue_counter_is_lowered_only_once_it_has_settled_itself(dynamo, client, clock):
    """Each queue has its own settle window: a busy neighbour does not hold it back."""
    pool, quiet = add_pool(dynamo)
    busy = add_queue(dynamo, pool, "busy", priority=2)
    claim(dynamo, add_run(dynamo, pool, quiet))
    client.update_item(  # drift on the quiet queue's counter, stamped now
        TableName=TABLE,
        Key=schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
        UpdateExpression="SET #a = :three",
        ExpressionAttributeNames={"#a": f"a:{quiet.id}"},
        ExpressionAttributeValues={":three": {"N": "3"}},
    )
    assert dynamo.repair_counters(pool.id) == []  # the index might still be catching up

    clock.set(NOW + timedelta(seconds=30))
    claim(dynamo, add_run(dynamo, pool, busy))  # the pool counter and `busy` just moved
    repairs = dynamo.repair_counters(pool.id)

    assert [(r.queue_id, r.was, r.now) for r in repairs] == [(quiet.id, 3, 1)]
    assert counts(dynamo, pool.id) == (2, {quiet.id: 1, busy.id: 1})


# -- the upgrade from queue counters on QUEUE# items -------------------------------------------


def to_old_layout(client: Any, pool_id: str) -> None:
    """Rewrite a pool as the store wrote it before issue 16: each queue's
    counter, pause flag, limit and stamp on its own item."""
    item = counter_item(client, pool_id)
    queue_ids = [name[2:] for name in item if name.startswith("a:")]
    for queue_id in queue_ids:
        old = {
            "active": item[f"a:{queue_id}"],
            "paused": item.get(f"p:{queue_id}", {"BOOL": False}),
            "touched": {"S": "2026-01-01T11:00:00.000000Z"},
        } | ({"lim": item[f"l:{queue_id}"]} if f"l:{queue_id}" in item else {})
        names = {f"#{k}": k for k in old}
        client.update_item(
            TableName=TABLE,
            Key=schema.key(schema.pool_pk(pool_id), schema.queue_sk(queue_id)),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in old),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": v for k, v in old.items()},
        )
        gone = {f"#{k}": f"{k}:{queue_id}" for k in QUEUE_KINDS}
        client.update_item(
            TableName=TABLE,
            Key=schema.key(schema.pool_pk(pool_id), schema.SLOTS_SK),
            UpdateExpression="REMOVE " + ", ".join(gone),
            ExpressionAttributeNames=gone,
        )


def test_store_init_moves_every_queue_counter_once(dynamo, client):
    pool, default = add_pool(dynamo, default_limit=2)
    extra = add_queue(dynamo, pool, "extra", priority=2, paused=True)
    held = claim(dynamo, add_run(dynamo, pool, default))
    to_old_layout(client, pool.id)
    assert not [name for name in counter_item(client, pool.id) if name.startswith("a:")]

    assert create_table(client, TABLE) is False  # `pushpool store init` on the old table
    assert migrate_queue_counters(client, TABLE) == 0  # idempotent

    item = counter_item(client, pool.id)
    assert item[f"a:{default.id}"] == {"N": "1"} and item[f"l:{default.id}"] == {"N": "2"}
    assert item[f"p:{extra.id}"] == {"BOOL": True} and item[f"a:{extra.id}"] == {"N": "0"}
    assert "active" not in queue_item(client, pool.id, default.id)
    dynamo.record_state(held, state(StateType.COMPLETED))
    assert counts(dynamo, pool.id) == (0, {default.id: 0, extra.id: 0})
    with pytest.raises(CapacityFull) as refused:
        claim(dynamo, add_run(dynamo, pool, extra))
    assert refused.value.scope == "paused"


def test_a_claim_on_a_table_not_yet_upgraded_moves_its_queue_first(dynamo, client):
    pool, queue = add_pool(dynamo, default_limit=1)
    claim(dynamo, add_run(dynamo, pool, queue))
    to_old_layout(client, pool.id)

    with pytest.raises(CapacityFull) as full:  # the old count (1 of 1) came along
        claim(dynamo, add_run(dynamo, pool, queue))

    assert full.value.scope == "queue"
    assert "active" not in queue_item(client, pool.id, queue.id)
    assert counts(dynamo, pool.id) == (1, {queue.id: 1})


def test_a_release_on_a_table_not_yet_upgraded_gives_back_the_queue_slot(dynamo, client):
    pool, queue = add_pool(dynamo)
    held = claim(dynamo, add_run(dynamo, pool, queue))
    to_old_layout(client, pool.id)

    dynamo.record_state(held, state(StateType.CRASHED))

    assert counts(dynamo, pool.id) == (0, {queue.id: 0})
    assert dynamo.repair_counters(pool.id) == []


def test_reads_and_edits_of_a_pool_not_yet_upgraded_see_every_queue(dynamo, client):
    pool, default = add_pool(dynamo)
    extra = add_queue(dynamo, pool, "extra", priority=2)
    claim(dynamo, add_run(dynamo, pool, extra))
    to_old_layout(client, pool.id)

    assert counts(dynamo, pool.id) == (1, {default.id: 0, extra.id: 1})

    to_old_layout(client, pool.id)
    dynamo.update_queues([extra.model_copy(update={"is_paused": True})])
    with pytest.raises(CapacityFull):
        claim(dynamo, add_run(dynamo, pool, extra))
    assert counts(dynamo, pool.id) == (1, {default.id: 0, extra.id: 1})


def test_the_reaper_repair_upgrades_a_pool(dynamo, client):
    pool, queue = add_pool(dynamo)
    claim(dynamo, add_run(dynamo, pool, queue))
    to_old_layout(client, pool.id)

    assert dynamo.repair_counters(pool.id) == []

    assert counter_item(client, pool.id)[f"a:{queue.id}"] == {"N": "1"}
    assert "active" not in queue_item(client, pool.id, queue.id)


def test_a_queue_the_full_counter_item_cannot_hold_is_refused_and_nothing_changes(dynamo, client):
    """The counter item's 400 KB caps a pool at about 3,000 queues: beyond it,
    creating a queue is bad input (HTTP 400), not a server error."""
    pool, default = add_pool(dynamo)
    client.update_item(  # as if thousands of queues already had their entries
        TableName=TABLE,
        Key=schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
        # moto refuses items over 405,000 bytes: this leaves less room than a
        # queue entry needs (~120 B) but enough for a claim (same-size values)
        UpdateExpression="SET #pad = :pad",
        ExpressionAttributeNames={"#pad": "pad"},
        ExpressionAttributeValues={":pad": {"S": "x" * 404_700}},
    )
    one_more = make_queue(pool, "one-more", priority=2, limit=3, paused=True)

    with pytest.raises(InvalidInput, match="too large"):
        dynamo.create_queue(one_more)

    with pytest.raises(NotFound):
        dynamo.get_queue(pool.id, "one-more")
    claim(dynamo, add_run(dynamo, pool, default))  # the pool still admits
    assert counts(dynamo, pool.id) == (1, {default.id: 1})


@pytest.mark.slow
def test_claimers_racing_on_a_pool_not_yet_upgraded_never_exceed_a_limit(dynamo, client):
    """Eight threads claim and finish runs of an old-layout pool (pool limit 3,
    queue limits none/1/2, one slot of the unlimited queue held throughout,
    so every run can still be admitted): the first claims migrate
    it while the others race them; no limit is ever exceeded, no run is
    claimed twice, and the counters end at 0."""
    from tests.contract.claimers import run_claimers
    from tests.contract.test_concurrency import assert_all_done_once, seed

    limits = seed(dynamo)
    unlimited = next(q for q, limit in limits.queues.items() if limit is None)
    due = dynamo.list_due(limits.pool_id, NOW + timedelta(hours=1))
    held = claim(dynamo, next(r for r in due if r.work_queue_id == unlimited))
    to_old_layout(client, limits.pool_id)

    tally = run_claimers(dynamo, limits, threads=8)
    dynamo.record_state(held, state(StateType.COMPLETED))
    tally.claimed.append(held.id)

    assert "active" not in queue_item(client, limits.pool_id, held.work_queue_id)
    assert_all_done_once(dynamo, limits, tally)


def test_a_run_of_a_deleted_queue_releases_the_pool_slot_and_adds_no_entry(dynamo, client):
    pool, default = add_pool(dynamo, limit=1)
    extra = add_queue(dynamo, pool, "extra", priority=2)
    held = claim(dynamo, add_run(dynamo, pool, extra))
    dynamo.delete_queue(extra)

    dynamo.record_state(held, state(StateType.COMPLETED))

    assert counts(dynamo, pool.id) == (0, {default.id: 0})
    assert not [name for name in counter_item(client, pool.id) if name.endswith(extra.id)]
    claim(dynamo, add_run(dynamo, pool, default))  # the pool's one slot is free again


def test_repair_gives_a_queue_whose_entry_was_lost_its_counter_back(dynamo, client):
    """An entry removed by hand makes the queue unclaimable (NotFound after one
    retry); the reaper's repair puts it back with the slots its runs hold."""
    pool, _ = add_pool(dynamo)
    extra = add_queue(dynamo, pool, "extra", priority=2, limit=2)
    claim(dynamo, add_run(dynamo, pool, extra))
    gone = {f"#{k}": f"{k}:{extra.id}" for k in QUEUE_KINDS}
    client.update_item(
        TableName=TABLE,
        Key=schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
        UpdateExpression="REMOVE " + ", ".join(gone),
        ExpressionAttributeNames=gone,
    )
    with pytest.raises(NotFound):
        claim(dynamo, add_run(dynamo, pool, extra))

    repairs = dynamo.repair_counters(pool.id)

    assert [(r.queue_id, r.was, r.now) for r in repairs] == [(extra.id, 0, 1)]
    assert counter_item(client, pool.id)[f"l:{extra.id}"] == {"N": "2"}
    claim(dynamo, add_run(dynamo, pool, extra))
    with pytest.raises(CapacityFull):  # its limit of 2 holds again
        claim(dynamo, add_run(dynamo, pool, extra))
    assert dynamo.repair_counters(pool.id) == []
