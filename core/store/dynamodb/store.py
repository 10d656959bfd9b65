"""``DynamoStore``: the ``core.ports.Store`` port on one DynamoDB table."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.logs import LogLine
from core.models import Deployment, Flow, FlowRun, Token, Worker, WorkPool, WorkQueue
from core.ports import Again, Clock, CounterRepair, ScheduleProgress, SlotCounters
from core.states import State, StateType
from core.store.dynamodb.catalog import Catalog
from core.store.dynamodb.logs import Logs
from core.store.dynamodb.pools import Pools
from core.store.dynamodb.queues import Queues
from core.store.dynamodb.run_writes import RunWrites
from core.store.dynamodb.runs import Runs
from core.store.dynamodb.slots import Slots
from core.store.dynamodb.table import Backoff, Table
from core.store.dynamodb.turns import Turns
from core.store.dynamodb.workers import Workers

DEFAULT_RETENTION = timedelta(days=30)
DEFAULT_SHARDS = 4
DEFAULT_SETTLE = timedelta(seconds=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DynamoStore:
    """Every ``Store`` method on a single on-demand table (see docs/storage.md).

    ``client`` is a boto3 DynamoDB client; without one, a client is made on
    first use from boto3's standard settings (``AWS_ENDPOINT_URL_DYNAMODB``,
    region, credentials).  ``sleep`` and ``random`` drive the retry back-off
    and ``clock`` the counter-repair settle window, so tests inject them.
    Finished runs expire ``retention`` after they ended (DynamoDB TTL), run
    log lines ``retention`` after they were written.
    ``shards`` spreads the due/active/runs indexes over that many partition
    keys; it is part of the data layout, so never change it on a live table.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Clock | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        shards: int = DEFAULT_SHARDS,
        settle: timedelta = DEFAULT_SETTLE,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        backoff: Backoff | None = None,
    ) -> None:
        self._table = Table(
            table_name, client=client, sleep=sleep, random=random, backoff=backoff or Backoff()
        )
        clock = clock or _utc_now
        # One part per subject, all on this one table (see the package docstring).
        writes = RunWrites(clock=clock, shards=shards, retention=retention)
        self._queues = Queues(self._table)
        self._pools = Pools(self._table, self._queues)
        self._workers = Workers(self._table)
        self._catalog = Catalog(self._table)
        self._runs = Runs(self._table, writes, shards=shards)
        self._slots = Slots(self._table, writes, self._runs, clock=clock, settle=settle)
        self._turns = Turns(self._table)
        self._logs = Logs(self._table, clock=clock, retention=retention)

    @property
    def table_name(self) -> str:
        return self._table.name

    # -- pools -------------------------------------------------------------------------------
    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None:
        self._pools.create_pool(pool, default_queue)

    def get_pool(self, name: str) -> WorkPool:
        return self._pools.get_pool(name)

    def get_pool_by_id(self, pool_id: str) -> WorkPool:
        return self._pools.get_pool_by_id(pool_id)

    def list_pools(self) -> list[WorkPool]:
        return self._pools.list_pools()

    def update_pool(self, pool: WorkPool) -> WorkPool:
        return self._pools.update_pool(pool)

    def delete_pool(self, pool: WorkPool) -> None:
        self._pools.delete_pool(pool)

    def record_dispatch(self, pool_id: str, at: datetime) -> None:
        self._pools.record_dispatch(pool_id, at)

    def record_dispatch_problem(self, pool_id: str, problem: str | None) -> None:
        self._pools.record_dispatch_problem(pool_id, problem)

    # -- queues ------------------------------------------------------------------------------
    def create_queue(self, queue: WorkQueue) -> None:
        self._queues.create_queue(queue)

    def get_queue(self, pool_id: str, name: str) -> WorkQueue:
        return self._queues.get_queue(pool_id, name)

    def get_queue_by_id(self, queue_id: str) -> WorkQueue:
        return self._queues.get_queue_by_id(queue_id)

    def list_queues(self, pool_id: str) -> list[WorkQueue]:
        return self._queues.list_queues(pool_id)

    def update_queues(self, queues: Sequence[WorkQueue]) -> list[WorkQueue]:
        return self._queues.update_queues(queues)

    def delete_queue(self, queue: WorkQueue) -> None:
        self._queues.delete_queue(queue)

    def record_poll(self, pool_id: str, queue_ids: Sequence[str], at: datetime) -> None:
        self._queues.record_poll(pool_id, queue_ids, at)

    # -- workers -----------------------------------------------------------------------------
    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker:
        return self._workers.heartbeat(pool_id, name, at=at, interval_seconds=interval_seconds)

    def list_workers(self, pool_id: str) -> list[Worker]:
        return self._workers.list_workers(pool_id)

    def delete_worker(self, pool_id: str, name: str) -> None:
        self._workers.delete_worker(pool_id, name)

    # -- catalog -----------------------------------------------------------------------------
    def ensure_flow(self, flow: Flow) -> Flow:
        return self._catalog.ensure_flow(flow)

    def get_flow(self, flow_id: str) -> Flow:
        return self._catalog.get_flow(flow_id)

    def create_deployment(self, deployment: Deployment) -> None:
        self._catalog.create_deployment(deployment)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._catalog.get_deployment(deployment_id)

    def find_deployment(self, flow_name: str, name: str) -> Deployment:
        return self._catalog.find_deployment(flow_name, name)

    def list_deployments(self, *, pool_name: str | None = None) -> list[Deployment]:
        return self._catalog.list_deployments(pool_name=pool_name)

    def update_deployment(self, deployment: Deployment) -> Deployment:
        return self._catalog.update_deployment(deployment)

    def delete_deployment(self, deployment: Deployment) -> None:
        self._catalog.delete_deployment(deployment)

    def deployments_to_schedule(self, before: datetime, *, limit: int) -> list[ScheduleProgress]:
        return self._catalog.deployments_to_schedule(before, limit=limit)

    def mark_materialised(self, deployment: Deployment, *, until: datetime | None) -> bool:
        return self._catalog.mark_materialised(deployment, until=until)

    def put_token(self, token: Token) -> None:
        self._catalog.put_token(token)

    def find_token(self, secret_hash: str) -> Token | None:
        return self._catalog.find_token(secret_hash)

    def get_cached(self, key: str) -> str | None:
        return self._catalog.get_cached(key)

    def put_cached(self, key: str, value: str) -> None:
        self._catalog.put_cached(key, value)

    # -- runs --------------------------------------------------------------------------------
    def create_run(self, run: FlowRun) -> bool:
        return self._runs.create_run(run)

    def get_run(self, run_id: str) -> FlowRun:
        return self._runs.get_run(run_id)

    def list_runs(
        self,
        *,
        pool_id: str | None = None,
        queue_ids: Sequence[str] | None = None,
        deployment_id: str | None = None,
        state_types: Sequence[StateType] | None = None,
        limit: int = 200,
    ) -> list[FlowRun]:
        return self._runs.list_runs(
            pool_id=pool_id,
            queue_ids=queue_ids,
            deployment_id=deployment_id,
            state_types=state_types,
            limit=limit,
        )

    def list_due(
        self,
        pool_id: str,
        before: datetime,
        *,
        queue_id: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        return self._runs.list_due(pool_id, before, queue_id=queue_id, limit=limit)

    def has_due(self, pool_id: str, before: datetime) -> bool:
        return self._runs.has_due(pool_id, before)

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        return self._runs.due_pools(before)

    def list_active(self, pool_id: str | None = None) -> list[FlowRun]:
        return self._runs.list_active(pool_id)

    # -- slots -------------------------------------------------------------------------------
    def claim(self, run: FlowRun, *, state: State, lease_expires: datetime) -> FlowRun:
        return self._slots.claim(run, state=state, lease_expires=lease_expires)

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        return self._slots.record_state(run, state)

    def mark_submitted(self, run: FlowRun, *, infrastructure_pid: str, at: datetime) -> FlowRun:
        return self._slots.mark_submitted(run, infrastructure_pid=infrastructure_pid, at=at)

    def counters(self, pool_id: str) -> SlotCounters:
        return self._slots.counters(pool_id)

    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        return self._slots.repair_counters(pool_id)

    # -- turns -------------------------------------------------------------------------------
    def take_dispatch_turn(
        self, pool_id: str, holder: str, *, at: datetime, until: datetime, again: Again
    ) -> bool:
        return self._turns.take_dispatch_turn(pool_id, holder, at=at, until=until, again=again)

    def end_dispatch_turn(
        self, pool_id: str, holder: str, *, until: datetime | None
    ) -> Again | None:
        return self._turns.end_dispatch_turn(pool_id, holder, until=until)

    # -- logs --------------------------------------------------------------------------------
    def append_logs(self, lines: Sequence[LogLine]) -> None:
        self._logs.append_logs(lines)

    def read_logs(
        self, run_id: str, *, after: str | None = None, limit: int, newest_first: bool = False
    ) -> list[LogLine]:
        return self._logs.read_logs(run_id, after=after, limit=limit, newest_first=newest_first)
