"""DynamoDB only: the ``scheduled`` index's sort key is ``time#run id`` (so a
limited read comes back in (time, id) order); a run item written before,
with the bare time, is still read, in time order, by a bounded read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core.store.dynamodb import schema
from core.store.dynamodb.codec import stamp
from core.store.dynamodb.store import DynamoStore
from tests.contract import backends
from tests.contract.builders import NOW, add_pool, add_run, new_id

TABLE = "sched-keys"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with backends.moto_dynamodb_table(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


def test_a_run_written_with_a_bare_time_key_is_still_read_in_time_order(client):
    store = DynamoStore(TABLE, client=client)
    pool, queue = add_pool(store)
    old = add_run(store, pool, queue, at=NOW, run_id="z" + new_id())
    new_same_time = add_run(store, pool, queue, at=NOW, run_id="a" + new_id())
    later = add_run(store, pool, queue, at=NOW + timedelta(seconds=1))
    item = client.get_item(TableName=TABLE, Key=schema.key(schema.run_pk(old.id), schema.RUN_SK))
    assert item["Item"]["sched_t"]["S"] == f"{stamp(NOW)}#{old.id}"
    client.update_item(  # as a run written before the key change
        TableName=TABLE,
        Key=schema.key(schema.run_pk(old.id), schema.RUN_SK),
        UpdateExpression="SET sched_t = :t",
        ExpressionAttributeValues={":t": {"S": stamp(NOW)}},
    )

    # the bare key sorts ahead of same-time new keys; nothing is lost or reordered in time
    assert store.list_due(pool.id, NOW, queue_id=queue.id, limit=1) == [old]
    assert store.list_due(pool.id, NOW, queue_id=queue.id, limit=2) == [new_same_time, old]
    assert {r.id for r in store.list_due(pool.id, NOW, queue_id=queue.id, limit=5)} == {
        old.id,
        new_same_time.id,
    }
    assert store.list_due(pool.id, later.next_scheduled_start_time, queue_id=queue.id)[-1] == later
