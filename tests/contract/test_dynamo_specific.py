"""What only the DynamoDB store has: retries, cancellation reasons, TTL, the
table itself, ``pushpool store init`` and the cost of a run's life.

Errors DynamoDB produces under load (throttling, transaction conflicts,
lost responses) are injected with a botocore ``before-call`` hook that
answers a request before it reaches moto; everything else runs on moto.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from typer.testing import CliRunner

from core.errors import CapacityFull, Conflict, NotFound, Transient
from core.states import StateType
from core.store.dynamodb import schema
from core.store.dynamodb.items import run_item
from core.store.dynamodb.schema import create_table
from core.store.dynamodb.store import DynamoStore
from core.store.dynamodb.table import Backoff
from tests.clock import FakeClock
from tests.contract import backends
from tests.contract.builders import (
    NOW,
    add_pool,
    add_run,
    claim,
    make_deployment,
    scheduled,
    state,
)

TABLE = "pushpool-test"


class Faults:
    """Answers chosen DynamoDB requests with errors before they reach moto,
    and records every request's parameters."""

    def __init__(self, client: Any) -> None:
        self.planned: dict[str, list[Any]] = {}
        self.seen: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._remember)
        client.meta.events.register("before-call.dynamodb", self._answer)

    def fail(self, operation: str, code: str, *, times: int = 1, **fields: Any) -> None:
        self.planned.setdefault(operation, []).extend([(code, fields)] * times)

    def raise_(self, operation: str, error: Exception) -> None:
        self.planned.setdefault(operation, []).append(error)

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.seen if name == operation]

    def _remember(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.seen.append((model.name, dict(params)))

    def _answer(self, model: Any, **_: Any) -> Any:
        planned = self.planned.get(model.name)
        if not planned:
            return None
        fault = planned.pop(0)
        if isinstance(fault, Exception):
            raise fault
        code, fields = fault
        parsed = {"Error": {"Code": code, "Message": f"injected {code}"}, **fields}
        return _Http(400), parsed


class _Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with backends.moto_dynamodb_table(monkeypatch, TABLE) as dynamodb:
        yield dynamodb


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def faults(client: Any) -> Faults:
    return Faults(client)


@pytest.fixture
def dynamo(client: Any, clock: FakeClock, sleeps: list[float]) -> DynamoStore:
    return DynamoStore(
        TABLE,
        client=client,
        clock=clock,
        sleep=sleeps.append,
        random=lambda: 0.5,
        backoff=Backoff(attempts=4, base=0.1, cap=0.3),
    )


def raw_item(client: Any, run_id: str) -> dict[str, Any]:
    key = schema.key(schema.run_pk(run_id), schema.RUN_SK)
    return client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]


# -- retries ----------------------------------------------------------------------------


def test_throttled_requests_are_retried_with_full_jitter_backoff(dynamo, faults, sleeps):
    _, queue = add_pool(dynamo)
    faults.fail("GetItem", "ProvisionedThroughputExceededException", times=3)

    assert dynamo.get_queue_by_id(queue.id) == queue

    # random() = 0.5 of min(cap 0.3, base 0.1 * 2**n) for n = 0, 1, 2
    assert sleeps == pytest.approx([0.05, 0.1, 0.15])


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
    ],
)
def test_throttling_that_outlasts_every_attempt_becomes_transient(dynamo, faults, sleeps, code):
    faults.fail("GetItem", code, times=10)

    with pytest.raises(Transient, match=code) as raised:
        dynamo.get_run("any")

    assert raised.value.retryable is True
    assert len(faults.calls("GetItem")) == 4
    assert len(sleeps) == 3


def test_errors_that_a_retry_cannot_fix_are_not_retried(dynamo, faults, sleeps):
    faults.fail("GetItem", "ValidationException")

    with pytest.raises(ClientError, match="ValidationException"):
        dynamo.get_run("any")
    assert sleeps == []


def test_a_claim_cancelled_by_a_transaction_conflict_is_retried_with_a_new_token(
    dynamo, faults, sleeps
):
    pool, queue = add_pool(dynamo, limit=1)
    run = add_run(dynamo, pool, queue)
    conflict = [{"Code": "TransactionConflict"}, {"Code": "None"}, {"Code": "None"}]
    faults.fail("TransactWriteItems", "TransactionCanceledException", CancellationReasons=conflict)
    earlier = len(faults.calls("TransactWriteItems"))

    claimed = claim(dynamo, run)

    assert claimed.state_type is StateType.PENDING
    assert dynamo.counters(pool.id).pool_active == 1
    tokens = [c["ClientRequestToken"] for c in faults.calls("TransactWriteItems")[earlier:]]
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert len(sleeps) == 1


def test_a_transaction_whose_response_was_lost_is_resent_with_the_same_token(
    dynamo, faults, sleeps
):
    """With the same token DynamoDB applies the claim at most once (moto ignores tokens)."""
    pool, queue = add_pool(dynamo)
    run = add_run(dynamo, pool, queue)
    faults.raise_("TransactWriteItems", EndpointConnectionError(endpoint_url="http://ddb"))
    earlier = len(faults.calls("TransactWriteItems"))

    claim(dynamo, run)

    tokens = [c["ClientRequestToken"] for c in faults.calls("TransactWriteItems")[earlier:]]
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert dynamo.counters(pool.id).pool_active == 1


# -- cancellation reasons ----------------------------------------------------------------


def _counter(
    queue_id: str,
    *,
    active: int = 0,
    limit: int | None = None,
    paused: bool = False,
    queue_active: int | None = 0,
    queue_limit: int | None = None,
    queue_paused: bool = False,
) -> dict:
    """A stored counter item: the pool's counter and the queue's entry
    (``queue_active=None``: the queue has none)."""
    item = {"pk": {"S": "P#x"}, "sk": {"S": "S"}, "active": {"N": str(active)}}
    item["paused"] = {"BOOL": paused}
    if limit is not None:
        item["lim"] = {"N": str(limit)}
    if queue_active is not None:
        item[f"a:{queue_id}"] = {"N": str(queue_active)}
    if queue_limit is not None:
        item[f"l:{queue_id}"] = {"N": str(queue_limit)}
    if queue_paused:
        item[f"p:{queue_id}"] = {"BOOL": True}
    return item


def _ok() -> dict:
    return {"Code": "None"}


def _failed(item: dict | None) -> dict:
    reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": "failed"}
    if item is not None:
        reason["Item"] = item
    return reason


# The counter item's stored state when the claim's condition on it failed.
# One item holds both counters, so the order of the old three-item layout
# (missing, then paused, then full; pool before queue) is read off it.
@pytest.mark.parametrize(
    ("stored", "error", "scope"),
    [
        ({"pool_gone": True}, NotFound, None),
        ({"queue_active": None}, NotFound, None),
        ({"paused": True}, CapacityFull, "paused"),
        ({"queue_paused": True}, CapacityFull, "paused"),
        ({"active": 2, "limit": 2}, CapacityFull, "pool"),
        ({"queue_active": 1, "queue_limit": 1}, CapacityFull, "queue"),
        # several fail at once: a pause is reported before a full limit ...
        ({"active": 3, "limit": 3, "queue_paused": True}, CapacityFull, "paused"),
        # ... a missing queue before a pause, and the pool's limit before the queue's
        ({"paused": True, "queue_active": None}, NotFound, None),
        ({"active": 1, "limit": 1, "queue_active": 1, "queue_limit": 1}, CapacityFull, "pool"),
    ],
)
def test_cancellation_reasons_map_to_core_errors(dynamo, faults, stored, error, scope):
    pool, queue = add_pool(dynamo)
    run = add_run(dynamo, pool, queue)
    counter = None if stored.pop("pool_gone", False) else _counter(queue.id, **stored)
    reasons = [_ok(), _failed(counter)]
    # twice: a queue that exists without a counter entry gets one retry (it may
    # have been moved from the old layout meanwhile)
    faults.fail(
        "TransactWriteItems", "TransactionCanceledException", times=2, CancellationReasons=reasons
    )

    with pytest.raises(error) as raised:
        claim(dynamo, run)

    assert getattr(raised.value, "scope", None) == scope
    assert dynamo.get_run(run.id) == run


def test_a_claim_is_one_transaction_of_the_run_and_the_pools_counter_item(dynamo, faults):
    """Two items (4 WCU), not three: the queue's counter is on the pool's item."""
    pool, queue = add_pool(dynamo, limit=3, default_limit=2)
    run = add_run(dynamo, pool, queue)
    earlier = len(faults.calls("TransactWriteItems"))

    held = claim(dynamo, run)
    dynamo.record_state(held, state(StateType.COMPLETED))

    claim_txn, release_txn = faults.calls("TransactWriteItems")[earlier:]
    for txn in (claim_txn, release_txn):
        keys = [
            next(iter(entry.values()))["Item" if "Put" in entry else "Key"]
            for entry in txn["TransactItems"]
        ]
        assert [(k["pk"]["S"], k["sk"]["S"]) for k in keys] == [
            (schema.run_pk(run.id), schema.RUN_SK),
            (schema.pool_pk(pool.id), schema.SLOTS_SK),
        ]
    condition = claim_txn["TransactItems"][1]["Update"]["ConditionExpression"]
    assert (
        "#paused" in condition and "#lim" in condition and "#qp" in condition and "#ql" in condition
    )


def test_a_run_reason_wins_over_the_counters(dynamo, faults):
    pool, queue = add_pool(dynamo)
    run = add_run(dynamo, pool, queue)
    moved = run.model_copy(update={"version": run.version + 1})
    item = run_item(moved, shards=4, retention=timedelta(days=1))
    reasons = [_failed(item), _failed(_counter(queue.id, paused=True, queue_active=None))]
    faults.fail("TransactWriteItems", "TransactionCanceledException", CancellationReasons=reasons)

    with pytest.raises(Conflict, match="changed since it was read") as raised:
        claim(dynamo, run)
    assert not isinstance(raised.value, CapacityFull)


def test_an_unexpected_cancellation_reason_is_raised_not_retried(dynamo, faults, sleeps):
    pool, queue = add_pool(dynamo)
    run = add_run(dynamo, pool, queue)
    reasons = [{"Code": "ValidationError", "Message": "bad"}, _ok()]
    faults.fail("TransactWriteItems", "TransactionCanceledException", CancellationReasons=reasons)

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        claim(dynamo, run)
    assert sleeps == []


def test_a_full_pool_whose_queue_is_paused_reports_the_pause(dynamo):
    pool, queue = add_pool(dynamo, limit=1)
    claim(dynamo, add_run(dynamo, pool, queue))
    dynamo.update_queues([queue.model_copy(update={"is_paused": True})])

    with pytest.raises(CapacityFull) as refused:
        claim(dynamo, add_run(dynamo, pool, queue))
    assert refused.value.scope == "paused"


# -- releases never fail and never go below zero ---------------------------------------


def test_a_run_of_a_deleted_pool_can_still_finish(dynamo):
    pool, queue = add_pool(dynamo)
    held = claim(dynamo, add_run(dynamo, pool, queue))
    dynamo.delete_pool(pool)

    done = dynamo.record_state(held, state(StateType.COMPLETED))

    assert dynamo.get_run(held.id) == done


def test_releasing_into_a_zeroed_counter_leaves_it_at_zero(dynamo):
    pool, queue = add_pool(dynamo)
    held = claim(dynamo, add_run(dynamo, pool, queue))
    dynamo.delete_pool(pool)
    dynamo.create_pool(pool, queue)  # counters start again at 0

    dynamo.record_state(held, state(StateType.FAILED))

    counters = dynamo.counters(pool.id)
    assert (counters.pool_active, counters.queue_active) == (0, {queue.id: 0})


def test_a_pool_deletion_cut_short_is_finished_by_deleting_again(dynamo, faults):
    pool, queue = add_pool(dynamo)
    add_run(dynamo, pool, queue)
    faults.fail("BatchWriteItem", "InternalFailure")  # the sweep dies after the pool went

    with pytest.raises(ClientError):
        dynamo.delete_pool(pool)
    assert dynamo.due_pools(NOW) == {pool.id: NOW}  # a leftover the sweep did not reach

    with pytest.raises(NotFound):
        dynamo.delete_pool(pool)
    assert dynamo.due_pools(NOW) == {}
    assert dynamo.list_queues(pool.id) == []


# -- counter repair ------------------------------------------------------------------------


def test_repair_lowers_a_counter_only_once_it_has_settled(dynamo, client, clock):
    pool, queue = add_pool(dynamo)
    claim(dynamo, add_run(dynamo, pool, queue))
    client.update_item(  # drift: the pool counter claims three slots are held
        TableName=TABLE,
        Key=schema.key(schema.pool_pk(pool.id), schema.SLOTS_SK),
        UpdateExpression="SET active = :three, touched = :now",
        ExpressionAttributeValues={
            ":three": {"N": "3"},
            ":now": {"S": "2026-01-01T12:00:00.000000Z"},
        },
    )

    assert dynamo.repair_counters(pool.id) == []  # the index might still be catching up
    clock.set(NOW + timedelta(seconds=30))
    repairs = dynamo.repair_counters(pool.id)

    assert [(r.queue_id, r.was, r.now) for r in repairs] == [(None, 3, 1)]
    assert dynamo.counters(pool.id).pool_active == 1


# -- TTL --------------------------------------------------------------------------------------


def test_finished_runs_expire_a_retention_after_they_ended(client):
    store = DynamoStore(TABLE, client=client, retention=timedelta(days=7))
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    assert "expires" not in raw_item(client, run.id)

    ended_at = NOW + timedelta(minutes=3)
    failed = store.record_state(run, state(StateType.FAILED, ended_at))
    expires = int(raw_item(client, run.id)["expires"]["N"])
    assert datetime.fromtimestamp(expires, UTC) == ended_at + timedelta(days=7)

    store.record_state(failed, scheduled(ended_at).model_copy(update={"name": "AwaitingRetry"}))
    assert "expires" not in raw_item(client, run.id)


def test_create_table_is_idempotent_with_indexes_on_demand_and_ttl(client):
    assert create_table(client, TABLE) is False  # the fixture created it already
    assert create_table(client, "another") is True

    table = client.describe_table(TableName="another")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "scheduled",
        "due",
        "active",
        "runs",
    }
    ttl = client.describe_time_to_live(TableName="another")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")


def test_store_init_indexes_deployments_written_before_schedule_progress_was_kept(client):
    """Issue 16's upgrade of an existing table: a deployment item without
    ``sched_q`` would never reach the tick; ``create_table`` (``pushpool
    store init``) puts it back, and leaves recorded progress alone."""
    store = DynamoStore(TABLE, client=client)
    pool, _ = add_pool(store)
    old, current = make_deployment(pool, "old"), make_deployment(pool, "current")
    store.create_deployment(old)
    store.create_deployment(current)
    store.mark_materialised(current, until=NOW + timedelta(hours=1))
    client.update_item(  # as the previous version wrote it
        TableName=TABLE,
        Key={"pk": {"S": "DEPLOYMENTS"}, "sk": {"S": old.id}},
        UpdateExpression="REMOVE sched_q, sched_t",
    )
    assert store.deployments_to_schedule(NOW + timedelta(days=1), limit=10)[0].deployment == current

    assert create_table(client, TABLE) is False

    found = store.deployments_to_schedule(NOW + timedelta(days=1), limit=10)
    assert [(p.deployment, p.materialised_until) for p in found] == [
        (old, None),
        (current, NOW + timedelta(hours=1)),
    ]


# -- reads cost what they return ----------------------------------------------------------------


def _items_read(faults_client: Any, call: Any) -> int:
    counted: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        counted.append(len(parsed.get("Items", [])))

    faults_client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        call()
    finally:
        faults_client.meta.events.unregister("after-call.dynamodb.Query", count)
    return sum(counted)


def test_due_work_is_found_without_reading_future_or_finished_runs(dynamo, client):
    pool, queue = add_pool(dynamo)
    other, other_queue = add_pool(dynamo)
    for minutes in range(1, 31):  # a month of materialised schedule, not yet due
        add_run(dynamo, pool, queue, at=NOW + timedelta(days=minutes))
    for _ in range(5):
        dynamo.record_state(claim(dynamo, add_run(dynamo, pool, queue)), state(StateType.COMPLETED))
    add_run(dynamo, pool, queue, at=NOW - timedelta(minutes=1))
    add_run(dynamo, other, other_queue, at=NOW)

    assert _items_read(client, lambda: dynamo.due_pools(NOW)) == 2
    # one item for the pool's queue list, one due run
    assert _items_read(client, lambda: dynamo.list_due(pool.id, NOW)) == 2


def test_listing_scheduled_or_active_runs_reads_only_those_runs(dynamo, client):
    pool, queue = add_pool(dynamo)
    for _ in range(6):
        dynamo.record_state(claim(dynamo, add_run(dynamo, pool, queue)), state(StateType.FAILED))
    waiting = [add_run(dynamo, pool, queue, at=NOW + timedelta(minutes=m)) for m in (1, 2)]
    active = claim(dynamo, add_run(dynamo, pool, queue))

    def scheduled() -> list:
        return dynamo.list_runs(pool_id=pool.id, state_types=[StateType.SCHEDULED])

    assert scheduled() == waiting[::-1]
    assert _items_read(client, scheduled) == 1 + 2  # the queue list, then the two runs
    holding = [StateType.PENDING, StateType.RUNNING]
    assert dynamo.list_runs(pool_id=pool.id, state_types=holding) == [active]
    assert _items_read(client, lambda: dynamo.list_runs(state_types=holding)) == 1


# -- construction, the CLI ------------------------------------------------------------------------


def test_importing_and_constructing_the_store_creates_no_client():
    code = (
        "import sys; from core.store.dynamodb.store import DynamoStore; DynamoStore('t'); "
        "print('boto3' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_store_init_creates_the_table_at_the_endpoint_boto3_is_configured_for(
    moto_server, monkeypatch
):
    from handlers.cli.app import app
    from handlers.cli.main import main  # noqa: F401 - registers every command

    backends.use_moto_environment(monkeypatch, endpoint=moto_server)
    runner = CliRunner()

    first = runner.invoke(app, ["store", "init", "--store", "dynamodb://cli-table"])
    again = runner.invoke(app, ["store", "init", "--store", "dynamodb://cli-table"])

    assert first.exit_code == 0, first.output
    assert "Created DynamoDB table 'cli-table'" in first.output
    assert again.exit_code == 0 and "Found existing" in again.output
    names = boto3.client("dynamodb", endpoint_url=moto_server).list_tables()["TableNames"]
    assert "cli-table" in names


def test_store_init_creates_a_sqlite_schema_and_rejects_unknown_urls(tmp_path):
    from handlers.cli.app import app
    from handlers.cli.main import main  # noqa: F401

    runner = CliRunner()
    path = tmp_path / "nested" / "store.db"

    done = runner.invoke(app, ["store", "init", "--store", f"sqlite:///{path}"])
    wrong = runner.invoke(app, ["store", "init", "--store", "redis://x"])

    assert done.exit_code == 0 and "schema version" in done.output
    assert path.exists()
    assert wrong.exit_code == 1 and "unknown store URL" in wrong.output


# -- the cost of one run's life ----------------------------------------------------------------------


def test_one_runs_life_takes_one_request_per_step_and_stays_under_a_write_unit(client):
    from tests.bench.store_cost import LIFE, measure_run_life, report

    meter, sizes = measure_run_life()
    print("\n" + report(meter, sizes))

    assert [meter.steps[step].request_count for step in LIFE] == [1, 1, 1, 1, 1]
    assert [meter.steps[step].write_requests for step in LIFE] == [1, 1, 1, 1, 1]
    assert max(sizes.values()) < 1024  # every write of the run item costs one unit
    # claim and complete are 2-item transactions (the run and the pool's counter
    # item holding the queue's counter too; 2 units each); the rest single puts
    assert [meter.steps[step].wcu for step in LIFE] == [1, 4, 1, 1, 4]


def test_a_warm_store_reads_a_pool_by_name_in_one_request_and_sees_other_writers(
    client, faults, clock
):
    """DynamoStore remembers a name's pool id; a pool document that still has
    the name proves the name claim (both change in one transaction), so a warm
    read skips the claim, and a rename, deletion or new pool by another store
    (another Lambda) is still seen."""
    warm = DynamoStore(TABLE, client=client, clock=clock)
    other = DynamoStore(TABLE, client=client, clock=clock)
    pool, _ = add_pool(other, "etl")
    assert warm.get_pool("etl") == pool

    before = len(faults.seen)
    assert warm.get_pool("etl") == pool
    assert [name for name, _ in faults.seen[before:]] == ["Query"]

    other.update_pool(pool.model_copy(update={"name": "moved"}))
    replacement, _ = add_pool(other, "etl")
    assert warm.get_pool("etl") == replacement
    other.delete_pool(replacement)
    with pytest.raises(NotFound):
        warm.get_pool("etl")
    assert warm.get_pool("moved").id == pool.id
