"""A store composed of one part per subject.

Both stores (``core.store.sqlite``, ``core.store.dynamodb``) are split by the
same subjects, each a small port of ``core.ports`` (``PoolStore``,
``QueueStore``, ...) implemented by one class over the store's one database
or table.  This class is the ``Store`` and ``LogStore`` ports as the sum of
those parts: every method hands the call to the part for its subject, and
nothing else.  Written out rather than generated, so mypy checks each
signature against the parts' ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.logs import LogLine
from core.models import Deployment, Flow, FlowRun, Token, Worker, WorkPool, WorkQueue
from core.ports import (
    Again,
    CatalogStore,
    CounterRepair,
    LogStore,
    PoolStore,
    QueueStore,
    RunStore,
    ScheduleProgress,
    SlotCounters,
    SlotStore,
    TurnStore,
    WorkerStore,
)
from core.states import State, StateType


class ComposedStore:
    """``Store`` and ``LogStore``, each method served by its subject's part."""

    def __init__(
        self,
        *,
        pools: PoolStore,
        queues: QueueStore,
        workers: WorkerStore,
        catalog: CatalogStore,
        runs: RunStore,
        slots: SlotStore,
        turns: TurnStore,
        logs: LogStore,
    ) -> None:
        self._pools = pools
        self._queues = queues
        self._workers = workers
        self._catalog = catalog
        self._runs = runs
        self._slots = slots
        self._turns = turns
        self._logs = logs

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
