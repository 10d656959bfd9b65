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
from core.models import FlowRun, Worker, WorkPool, WorkQueue
from core.ports import Again, CounterRepair, SlotCounters
from core.states import State, StateType
from core.store import sqlite_runs as runs
from core.store import sqlite_turns as turns
from core.store.sqlite_catalog import SqliteCatalog
from core.store.sqlite_db import Database, check_version, one_body, ts
from core.store.sqlite_logs import DEFAULT_LINES_PER_RUN, DEFAULT_LINES_TOTAL, SqliteLogs

DEFAULT_TIMEOUT_SECONDS = 10.0


class SqliteStore(SqliteCatalog, SqliteLogs):
    """The ``core.ports.Store`` port on a SQLite file (or ``":memory:"``).

    ``timeout_seconds`` is how long a write waits for another thread or
    process holding the write lock before it raises ``Transient``.
    Run log lines are capped at ``log_lines_per_run`` per run and
    ``log_lines_total`` in all (``core.store.sqlite_logs``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        log_lines_per_run: int = DEFAULT_LINES_PER_RUN,
        log_lines_total: int = DEFAULT_LINES_TOTAL,
    ) -> None:
        self._db = Database(str(path), timeout_seconds=timeout_seconds)
        self._log_cap_per_run = log_lines_per_run
        self._log_cap_total = log_lines_total

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
        return WorkPool.model_validate_json(one_body(row, f"work pool {name!r}"))

    def get_pool_by_id(self, pool_id: str) -> WorkPool:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM pools WHERE id = ?", (pool_id,)).fetchone()
        return WorkPool.model_validate_json(one_body(row, f"work pool with id {pool_id!r}"))

    def list_pools(self) -> list[WorkPool]:
        with self._db.read() as tx:
            rows = tx.execute("SELECT body FROM pools ORDER BY name").fetchall()
        return [WorkPool.model_validate_json(row[0]) for row in rows]

    def update_pool(self, pool: WorkPool) -> WorkPool:
        stored = pool.model_copy(update={"version": pool.version + 1})
        with self._db.write() as tx:
            check_version(tx, "pools", pool.id, pool.version, f"work pool {pool.name!r}")
            clash = "SELECT 1 FROM pools WHERE name = ? AND id <> ?"
            if tx.execute(clash, (pool.name, pool.id)).fetchone():
                raise Conflict(f"a work pool named {pool.name!r} already exists")
            # The dispatcher's marks are written beside the version; keep the stored ones.
            tx.execute(
                "UPDATE pools SET name = ?, is_paused = ?, concurrency_limit = ?, version = ?,"
                " body = json_set(?, '$.last_dispatched', json_extract(body, '$.last_dispatched'),"
                " '$.dispatch_problem', json_extract(body, '$.dispatch_problem')) WHERE id = ?",
                (*self._pool_columns(stored), pool.id),
            )
        return stored

    def delete_pool(self, pool: WorkPool) -> None:
        with self._db.write() as tx:
            if tx.execute("DELETE FROM pools WHERE id = ?", (pool.id,)).rowcount == 0:
                raise NotFound(f"work pool {pool.name!r} not found")
            tx.execute("DELETE FROM queues WHERE pool_id = ?", (pool.id,))
            tx.execute("DELETE FROM workers WHERE pool_id = ?", (pool.id,))
            tx.execute("DELETE FROM dispatch_leases WHERE pool_id = ?", (pool.id,))
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

    def record_dispatch_problem(self, pool_id: str, problem: str | None) -> None:
        with self._db.write() as tx:
            tx.execute(
                "UPDATE pools SET body = json_set(body, '$.dispatch_problem', ?) WHERE id = ?",
                (problem, pool_id),
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
        return WorkQueue.model_validate_json(one_body(row, f"work queue {name!r}"))

    def get_queue_by_id(self, queue_id: str) -> WorkQueue:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM queues WHERE id = ?", (queue_id,)).fetchone()
        return WorkQueue.model_validate_json(one_body(row, f"work queue with id {queue_id!r}"))

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
                check_version(tx, "queues", queue.id, queue.version - 1, what)
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

    def list_due(
        self,
        pool_id: str,
        before: datetime,
        *,
        queue_id: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        with self._db.read() as tx:
            return runs.list_due(tx, pool_id, before, queue_id=queue_id, limit=limit)

    def has_due(self, pool_id: str, before: datetime) -> bool:
        with self._db.read() as tx:
            return runs.has_due(tx, pool_id, before)

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        with self._db.read() as tx:
            return runs.due_pools(tx, before)

    def take_dispatch_turn(
        self, pool_id: str, holder: str, *, at: datetime, until: datetime, again: Again
    ) -> bool:
        with self._db.write() as tx:
            return turns.take(tx, pool_id, holder, at=at, until=until, again=again)

    def end_dispatch_turn(
        self, pool_id: str, holder: str, *, until: datetime | None
    ) -> Again | None:
        with self._db.write() as tx:
            return turns.end(tx, pool_id, holder, until=until)

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
