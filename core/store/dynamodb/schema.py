"""The single table: its keys, its indexes and how to create it.

Every item has a string partition key ``pk`` and sort key ``sk``.  The four
global secondary indexes are sparse: an item appears in one only while it
carries that index's key attributes, so each index holds exactly the items
one access pattern needs (see docs/storage.md for the full layout).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

DEFAULT_TABLE = "pushpool"  # what `pushpool store init` creates when no table is named

# -- keys -----------------------------------------------------------------------

POOL_NAMES = "POOLNAME"
FLOW_NAMES = "FLOWNAME"
DEPLOYMENTS = "DEPLOYMENTS"


def pool_pk(pool_id: str) -> str:
    return f"P#{pool_id}"


POOL_SK = "POOL"  # the pool document (its template can be large)
SLOTS_SK = "POOL#SLOTS"  # small, hot: slot counters, pause flags, limits of pool and queues
SEEN_SK = "POOL#SEEN"  # last dispatcher pass (kept off the hot counter item)
POOL_PREFIX = "POOL"


def queue_sk(queue_id: str) -> str:
    return f"QUEUE#{queue_id}"


QUEUE_PREFIX = "QUEUE#"


def queue_name_sk(name: str) -> str:
    return f"QNAME#{name}"


def worker_sk(name: str) -> str:
    return f"WORKER#{name}"


WORKER_PREFIX = "WORKER#"


def queue_pointer_pk(queue_id: str) -> str:
    return f"Q#{queue_id}"


QUEUE_POINTER_SK = "QUEUE"


def run_pk(run_id: str) -> str:
    return f"R#{run_id}"


RUN_SK = "RUN"


def flow_pk(flow_id: str) -> str:
    return f"F#{flow_id}"


FLOW_SK = "FLOW"


def deployment_name_pk(flow_name: str) -> str:
    return f"DNAME#{flow_name}"


def token_pk(secret_hash: str) -> str:
    return f"TOKEN#{secret_hash}"


def cache_pk(key: str) -> str:
    return f"CACHE#{key}"


ITEM_SK = "ITEM"


def log_pk(run_id: str) -> str:
    return f"L#{run_id}"


# Below every line key ("0001-01-01T..." onwards); a key condition may not
# compare with an empty string.
LOG_SK_FLOOR = "0"


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# -- indexes --------------------------------------------------------------------

SCHEDULED_INDEX = "scheduled"  # sched_q = queue id, sched_t = time#run id; while SCHEDULED
# The same index also holds the deployments whose schedule the tick may need
# to extend: sched_q = this constant (no queue id looks like it), sched_t =
# how far the schedule is materialised (UNMATERIALISED after any write);
# absent when there is nothing to materialise.  Overloading the index spares
# a fifth one and a table update on every stack.
DEPLOYMENT_SCHEDULES = "DEPLOYMENTS"
UNMATERIALISED = "0000-00-00T00:00:00.000000Z"  # sorts before every stamp
DUE_INDEX = "due"  # due_s = DUE#shard, due_t = time#pool id; while SCHEDULED
ACTIVE_INDEX = "active"  # act_s = ACTIVE#shard, act_k = pool id#run id; while holding slots
RUNS_INDEX = "runs"  # runs_s = RUNS#shard, runs_t = time#run id; every run

TTL_ATTRIBUTE = "expires"

INDEXES: list[tuple[str, str, str, dict[str, Any]]] = [
    (SCHEDULED_INDEX, "sched_q", "sched_t", {"ProjectionType": "ALL"}),
    (DUE_INDEX, "due_s", "due_t", {"ProjectionType": "KEYS_ONLY"}),
    (ACTIVE_INDEX, "act_s", "act_k", {"ProjectionType": "ALL"}),
    (
        RUNS_INDEX,
        "runs_s",
        "runs_t",
        {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["pool_id", "queue_id", "dep_id"]},
    ),
]


def table_definition(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request: on-demand billing, keys and every index."""
    attributes = {"pk", "sk"} | {a for _, p, s, _ in INDEXES for a in (p, s)}
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
            for index, partition, sort, projection in INDEXES
        ],
    }


def create_table(client: Any = None, table_name: str = DEFAULT_TABLE) -> bool:
    """Create the table, its indexes and its TTL; True if it was created.

    Without a client, one is made from boto3's standard settings (``pushpool
    store init``).

    Idempotent: an existing table is left as it is apart from switching TTL
    on, indexing deployments written before their schedule progress was
    kept (``index_deployment_schedules``) and moving queue counters onto
    their pools' counter items (``migrate_queue_counters``), so ``pushpool
    store init`` can be run again safely, and upgrades a table.
    """
    if client is None:
        from core.store.dynamodb.table import default_client  # noqa: PLC0415

        client = default_client()
    created = True
    try:
        client.create_table(**table_definition(table_name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = False
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    if not created:
        index_deployment_schedules(client, table_name)
        migrate_queue_counters(client, table_name)
    return created


def migrate_queue_counters(client: Any, table_name: str) -> int:
    """Move queue counters written before issue 16 (on ``QUEUE#`` items) onto
    their pools' counter items; how many moved.  Idempotent and safe beside
    live traffic (see ``upgrade``)."""
    import random  # noqa: PLC0415
    import time  # noqa: PLC0415

    from core.store.dynamodb.table import Backoff, Table  # noqa: PLC0415
    from core.store.dynamodb.upgrade import migrate_table  # noqa: PLC0415 - it imports schema

    table = Table(
        table_name, client=client, sleep=time.sleep, random=random.random, backoff=Backoff()
    )
    return migrate_table(table)


def index_deployment_schedules(client: Any, table_name: str) -> int:
    """Put every deployment without schedule progress (written before issue
    16) where the tick looks, as "not materialised"; how many were.  Each
    update is conditioned on the progress still being absent, so a tick or
    a write racing with this is never undone."""
    indexed = 0
    params: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "#pk = :pk",
        "FilterExpression": "attribute_not_exists(#sched_q)",
        "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#sched_q": "sched_q"},
        "ExpressionAttributeValues": {":pk": {"S": DEPLOYMENTS}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**params)
        for item in page.get("Items", []):
            try:
                client.update_item(
                    TableName=table_name,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET #sched_q = :q, #sched_t = :t",
                    ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(#sched_q)",
                    ExpressionAttributeNames={
                        "#pk": "pk",
                        "#sched_q": "sched_q",
                        "#sched_t": "sched_t",
                    },
                    ExpressionAttributeValues={
                        ":q": {"S": DEPLOYMENT_SCHEDULES},
                        ":t": {"S": UNMATERIALISED},
                    },
                )
                indexed += 1
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        if "LastEvaluatedKey" not in page:
            return indexed
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
