"""The embedded default store: one SQLite file, same semantics as DynamoDB.

Local mode (``pushpool server``) and tests run on this.  Every method that
changes state is one ``BEGIN IMMEDIATE`` transaction, so several threads and
several processes can share one file and a claim is still atomic: the run's
state and version, the pool and queue pause flags and limits, and both slot
counters are checked and written under one write lock.  Objects are stored
as JSON beside the few columns that are queried or conditioned on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Deployment, Flow, FlowRun, Token, Worker, WorkPool, WorkQueue
from core.ports import Clock, CounterRepair, SlotCounters
from core.states import State, StateType
from core.store import sqlite_runs as runs
from core.store.sqlite_db import Database, ts

DEFAULT_TIMEOUT_SECONDS = 10.0


def _one(row: tuple[str] | None, what: str) -> str:
    if row is None:
        raise NotFound(f"{what} not found")
    return row[0]


def _check_version(tx: sqlite3.Connection, table: str, key: str, version: int, what: str) -> None:
    row = tx.execute(f"SELECT version FROM {table} WHERE id = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"{what} not found")
    if row[0] != version:
        raise Conflict(
            f"{what} changed since it was read (version {version}, stored {row[0]}); "
            "read it again and retry"
        )


class SqliteStore:
    """The ``core.ports.Store`` port on a SQLite file (or ``":memory:"``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self._db = Database(str(path), timeout_seconds=timeout_seconds)
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    @property
    def schema_version(self) -> int:
        return self._db.schema_version()

    # -- pools ------------------------------------------------------------------
    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None:
        with self._db.write() as tx:
            if tx.execute(
                "SELECT 1 FROM pools WHERE name = ? OR id = ?", (pool.name, pool.id)
            ).fetchone():
                raise Conflict(f"a work pool named {pool.name!r} already exists")
            tx.execute(
                "INSERT INTO pools (name, is_paused, concurrency_limit, version, body, id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*self._pool_columns(pool), pool.id),
            )
            self._insert_queue(tx, default_queue)

    @staticmethod
    def _pool_columns(pool: WorkPool) -> tuple[str, bool, int | None, int, str]:
        return (
            pool.name,
            pool.is_paused,
            pool.concurrency_limit,
            pool.version,
            pool.model_dump_json(),
        )

    def get_pool(self, name: str) -> WorkPool:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM pools WHERE name = ?", (name,)).fetchone()
        return WorkPool.model_validate_json(_one(row, f"work pool {name!r}"))

    def get_pool_by_id(self, pool_id: str) -> WorkPool:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM pools WHERE id = ?", (pool_id,)).fetchone()
        return WorkPool.model_validate_json(_one(row, f"work pool with id {pool_id!r}"))

    def list_pools(self) -> list[WorkPool]:
        with self._db.read() as tx:
            rows = tx.execute("SELECT body FROM pools ORDER BY name").fetchall()
        return [WorkPool.model_validate_json(row[0]) for row in rows]

    def update_pool(self, pool: WorkPool) -> WorkPool:
        stored = pool.model_copy(update={"version": pool.version + 1})
        with self._db.write() as tx:
            _check_version(tx, "pools", pool.id, pool.version, f"work pool {pool.name!r}")
            clash = "SELECT 1 FROM pools WHERE name = ? AND id <> ?"
            if tx.execute(clash, (pool.name, pool.id)).fetchone():
                raise Conflict(f"a work pool named {pool.name!r} already exists")
            tx.execute(
                "UPDATE pools SET name = ?, is_paused = ?, concurrency_limit = ?, version = ?,"
                " body = ? WHERE id = ?",
                (*self._pool_columns(stored), pool.id),
            )
        return stored

    def delete_pool(self, pool: WorkPool) -> None:
        with self._db.write() as tx:
            if tx.execute("DELETE FROM pools WHERE id = ?", (pool.id,)).rowcount == 0:
                raise NotFound(f"work pool {pool.name!r} not found")
            tx.execute("DELETE FROM queues WHERE pool_id = ?", (pool.id,))
            tx.execute("DELETE FROM workers WHERE pool_id = ?", (pool.id,))
            tx.execute(
                "DELETE FROM runs WHERE pool_id = ? AND state_type = ?",
                (pool.id, StateType.SCHEDULED.value),
            )

    def record_dispatch(self, pool_id: str, at: datetime) -> None:
        with self._db.write() as tx:
            tx.execute(
                "UPDATE pools SET body = json_set(body, '$.last_dispatched', ?) WHERE id = ?",
                (ts(at), pool_id),
            )

    # -- queues -----------------------------------------------------------------
    @staticmethod
    def _queue_columns(queue: WorkQueue) -> tuple[str, int, bool, int | None, int, str]:
        return (
            queue.name,
            queue.priority,
            queue.is_paused,
            queue.concurrency_limit,
            queue.version,
            queue.model_dump_json(),
        )

    def _insert_queue(self, tx: sqlite3.Connection, queue: WorkQueue) -> None:
        clash = "SELECT 1 FROM queues WHERE (pool_id = ? AND name = ?) OR id = ?"
        if tx.execute(clash, (queue.pool_id, queue.name, queue.id)).fetchone():
            raise Conflict(f"a work queue named {queue.name!r} already exists in this pool")
        tx.execute(
            "INSERT INTO queues (name, priority, is_paused, concurrency_limit, version, body,"
            " id, pool_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*self._queue_columns(queue), queue.id, queue.pool_id),
        )

    def create_queue(self, queue: WorkQueue) -> None:
        with self._db.write() as tx:
            if not tx.execute("SELECT 1 FROM pools WHERE id = ?", (queue.pool_id,)).fetchone():
                raise NotFound(f"work pool with id {queue.pool_id!r} not found")
            self._insert_queue(tx, queue)

    def get_queue(self, pool_id: str, name: str) -> WorkQueue:
        with self._db.read() as tx:
            sql = "SELECT body FROM queues WHERE pool_id = ? AND name = ?"
            row = tx.execute(sql, (pool_id, name)).fetchone()
        return WorkQueue.model_validate_json(_one(row, f"work queue {name!r}"))

    def get_queue_by_id(self, queue_id: str) -> WorkQueue:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM queues WHERE id = ?", (queue_id,)).fetchone()
        return WorkQueue.model_validate_json(_one(row, f"work queue with id {queue_id!r}"))

    def list_queues(self, pool_id: str) -> list[WorkQueue]:
        with self._db.read() as tx:
            sql = "SELECT body FROM queues WHERE pool_id = ? ORDER BY priority, name"
            rows = tx.execute(sql, (pool_id,)).fetchall()
        return [WorkQueue.model_validate_json(row[0]) for row in rows]

    def update_queues(self, queues: Sequence[WorkQueue]) -> list[WorkQueue]:
        stored = [q.model_copy(update={"version": q.version + 1}) for q in queues]
        with self._db.write() as tx:
            for queue in stored:
                what = f"work queue {queue.name!r}"
                _check_version(tx, "queues", queue.id, queue.version - 1, what)
                row = tx.execute("SELECT pool_id FROM queues WHERE id = ?", (queue.id,)).fetchone()
                if row[0] != queue.pool_id:
                    raise InvalidInput(f"{what} cannot move to another work pool", path="pool_id")
                clash = "SELECT 1 FROM queues WHERE pool_id = ? AND name = ? AND id <> ?"
                if tx.execute(clash, (queue.pool_id, queue.name, queue.id)).fetchone():
                    raise Conflict(f"a work queue named {queue.name!r} already exists in this pool")
                tx.execute(
                    "UPDATE queues SET name = ?, priority = ?, is_paused = ?,"
                    " concurrency_limit = ?, version = ?, body = ? WHERE id = ?",
                    (*self._queue_columns(queue), queue.id),
                )
        return stored

    def delete_queue(self, queue: WorkQueue) -> None:
        """Delete the queue and its SCHEDULED runs (they could never be admitted)."""
        with self._db.write() as tx:
            row = tx.execute(
                "SELECT json_extract(body, '$.default_queue_id') FROM pools WHERE id = ?",
                (queue.pool_id,),
            ).fetchone()
            if row is not None and row[0] == queue.id:
                raise Conflict(
                    f"work queue {queue.name!r} is its pool's default queue and cannot be "
                    "deleted; delete the pool instead"
                )
            if tx.execute("DELETE FROM queues WHERE id = ?", (queue.id,)).rowcount == 0:
                raise NotFound(f"work queue {queue.name!r} not found")
            tx.execute(
                "DELETE FROM runs WHERE queue_id = ? AND state_type = ?",
                (queue.id, StateType.SCHEDULED.value),
            )

    def record_poll(self, pool_id: str, queue_ids: Sequence[str], at: datetime) -> None:
        if not queue_ids:
            return
        marks = ", ".join("?" for _ in queue_ids)
        with self._db.write() as tx:
            tx.execute(
                "UPDATE queues SET body = json_set(body, '$.last_polled', ?)"
                f" WHERE pool_id = ? AND id IN ({marks})",
                (ts(at), pool_id, *queue_ids),
            )

    # -- workers ----------------------------------------------------------------
    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker:
        with self._db.write() as tx:
            if not tx.execute("SELECT 1 FROM pools WHERE id = ?", (pool_id,)).fetchone():
                raise NotFound(f"work pool with id {pool_id!r} not found")
            sql = "SELECT body FROM workers WHERE pool_id = ? AND name = ?"
            row = tx.execute(sql, (pool_id, name)).fetchone()
            previous = None if row is None else Worker.model_validate_json(row[0])
            worker = Worker(
                pool_id=pool_id,
                name=name,
                last_heartbeat_time=at,
                # Like Prefect: a heartbeat without an interval keeps the known one.
                heartbeat_interval_seconds=interval_seconds
                if interval_seconds is not None or previous is None
                else previous.heartbeat_interval_seconds,
                created=at if previous is None else previous.created,
            )
            tx.execute(
                "INSERT OR REPLACE INTO workers (pool_id, name, body) VALUES (?, ?, ?)",
                (pool_id, name, worker.model_dump_json()),
            )
        return worker

    def list_workers(self, pool_id: str) -> list[Worker]:
        with self._db.read() as tx:
            rows = tx.execute("SELECT body FROM workers WHERE pool_id = ?", (pool_id,)).fetchall()
        workers = [Worker.model_validate_json(row[0]) for row in rows]
        workers.sort(key=lambda w: w.name)
        workers.sort(key=lambda w: w.last_heartbeat_time, reverse=True)
        return workers

    def delete_worker(self, pool_id: str, name: str) -> None:
        with self._db.write() as tx:
            sql = "DELETE FROM workers WHERE pool_id = ? AND name = ?"
            if tx.execute(sql, (pool_id, name)).rowcount == 0:
                raise NotFound(f"worker {name!r} not found")

    # -- flows and deployments ------------------------------------------------------
    def ensure_flow(self, flow: Flow) -> Flow:
        with self._db.write() as tx:
            row = tx.execute("SELECT body FROM flows WHERE name = ?", (flow.name,)).fetchone()
            if row is not None:
                return Flow.model_validate_json(row[0])
            tx.execute(
                "INSERT INTO flows (id, name, body) VALUES (?, ?, ?)",
                (flow.id, flow.name, flow.model_dump_json()),
            )
        return flow

    def get_flow(self, flow_id: str) -> Flow:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM flows WHERE id = ?", (flow_id,)).fetchone()
        return Flow.model_validate_json(_one(row, f"flow with id {flow_id!r}"))

    @staticmethod
    def _deployment_columns(deployment: Deployment) -> tuple[str, str, str, int, str]:
        return (
            deployment.flow_name,
            deployment.name,
            deployment.work_pool_name,
            deployment.version,
            deployment.model_dump_json(),
        )

    def _check_deployment_name(self, tx: sqlite3.Connection, deployment: Deployment) -> None:
        sql = "SELECT 1 FROM deployments WHERE flow_name = ? AND name = ? AND id <> ?"
        if tx.execute(sql, (deployment.flow_name, deployment.name, deployment.id)).fetchone():
            raise Conflict(f"deployment {deployment.flow_name}/{deployment.name} already exists")

    def create_deployment(self, deployment: Deployment) -> None:
        with self._db.write() as tx:
            self._check_deployment_name(tx, deployment)
            if tx.execute("SELECT 1 FROM deployments WHERE id = ?", (deployment.id,)).fetchone():
                raise Conflict(f"a deployment with id {deployment.id!r} already exists")
            tx.execute(
                "INSERT INTO deployments (flow_name, name, work_pool_name, version, body, id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*self._deployment_columns(deployment), deployment.id),
            )

    def get_deployment(self, deployment_id: str) -> Deployment:
        with self._db.read() as tx:
            sql = "SELECT body FROM deployments WHERE id = ?"
            row = tx.execute(sql, (deployment_id,)).fetchone()
        return Deployment.model_validate_json(_one(row, f"deployment with id {deployment_id!r}"))

    def find_deployment(self, flow_name: str, name: str) -> Deployment:
        with self._db.read() as tx:
            sql = "SELECT body FROM deployments WHERE flow_name = ? AND name = ?"
            row = tx.execute(sql, (flow_name, name)).fetchone()
        return Deployment.model_validate_json(_one(row, f"deployment {flow_name}/{name}"))

    def list_deployments(self, *, pool_name: str | None = None) -> list[Deployment]:
        sql = "SELECT body FROM deployments"
        args: tuple[str, ...] = ()
        if pool_name is not None:
            sql, args = sql + " WHERE work_pool_name = ?", (pool_name,)
        with self._db.read() as tx:
            rows = tx.execute(sql + " ORDER BY flow_name, name", args).fetchall()
        return [Deployment.model_validate_json(row[0]) for row in rows]

    def update_deployment(self, deployment: Deployment) -> Deployment:
        stored = deployment.model_copy(update={"version": deployment.version + 1})
        what = f"deployment {deployment.flow_name}/{deployment.name}"
        with self._db.write() as tx:
            _check_version(tx, "deployments", deployment.id, deployment.version, what)
            self._check_deployment_name(tx, deployment)
            tx.execute(
                "UPDATE deployments SET flow_name = ?, name = ?, work_pool_name = ?,"
                " version = ?, body = ? WHERE id = ?",
                (*self._deployment_columns(stored), deployment.id),
            )
        return stored

    def delete_deployment(self, deployment: Deployment) -> None:
        with self._db.write() as tx:
            sql = "DELETE FROM deployments WHERE id = ?"
            if tx.execute(sql, (deployment.id,)).rowcount == 0:
                raise NotFound(f"deployment {deployment.flow_name}/{deployment.name} not found")

    # -- flow runs ----------------------------------------------------------------
    def create_run(self, run: FlowRun) -> bool:
        with self._db.write() as tx:
            return runs.insert(tx, run)

    def get_run(self, run_id: str) -> FlowRun:
        with self._db.read() as tx:
            return runs.get(tx, run_id)

    def list_runs(
        self,
        *,
        pool_id: str | None = None,
        queue_ids: Sequence[str] | None = None,
        deployment_id: str | None = None,
        state_types: Sequence[StateType] | None = None,
        limit: int = 200,
    ) -> list[FlowRun]:
        with self._db.read() as tx:
            return runs.list_runs(
                tx,
                pool_id=pool_id,
                queue_ids=queue_ids,
                deployment_id=deployment_id,
                state_types=state_types,
                limit=limit,
            )

    def list_due(self, pool_id: str, before: datetime) -> list[FlowRun]:
        with self._db.read() as tx:
            return runs.list_due(tx, pool_id, before)

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        with self._db.read() as tx:
            return runs.due_pools(tx, before)

    def list_active(self, pool_id: str | None = None) -> list[FlowRun]:
        with self._db.read() as tx:
            return runs.list_active(tx, pool_id)

    def claim(self, run: FlowRun, *, state: State, lease_expires: datetime) -> FlowRun:
        with self._db.write() as tx:
            return runs.claim(tx, run, state=state, lease_expires=lease_expires)

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        with self._db.write() as tx:
            return runs.record_state(tx, run, state)

    def mark_submitted(self, run: FlowRun, *, infrastructure_pid: str, at: datetime) -> FlowRun:
        with self._db.write() as tx:
            return runs.mark_submitted(tx, run, infrastructure_pid=infrastructure_pid, at=at)

    # -- counters -----------------------------------------------------------------
    def counters(self, pool_id: str) -> SlotCounters:
        with self._db.read() as tx:
            return runs.counters(tx, pool_id)

    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        with self._db.write() as tx:
            return runs.repair_counters(tx, pool_id)

    # -- tokens and small caches -------------------------------------------------------
    def put_token(self, token: Token) -> None:
        with self._db.write() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO tokens (id, secret_hash, body) VALUES (?, ?, ?)",
                (token.id, token.secret_hash, token.model_dump_json()),
            )

    def find_token(self, secret_hash: str) -> Token | None:
        with self._db.read() as tx:
            sql = "SELECT body FROM tokens WHERE secret_hash = ?"
            row = tx.execute(sql, (secret_hash,)).fetchone()
        return None if row is None else Token.model_validate_json(row[0])

    def get_cached(self, key: str) -> str | None:
        with self._db.read() as tx:
            row = tx.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_cached(self, key: str, value: str) -> None:
        with self._db.write() as tx:
            tx.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, value))
