"""Work queues in SQLite: one row each, in its pool, with its own slot counter."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from core.errors import Conflict, InvalidInput, NotFound
from core.models import WorkQueue
from core.states import StateType
from core.store.sqlite.db import Database, check_version, one_body, ts


class Queues:
    """Queues of a pool; their poll times are written without a version bump."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_queue(self, queue: WorkQueue) -> None:
        with self._db.write() as tx:
            if not tx.execute("SELECT 1 FROM pools WHERE id = ?", (queue.pool_id,)).fetchone():
                raise NotFound(f"work pool with id {queue.pool_id!r} not found")
            insert_queue(tx, queue)

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
                    (*_queue_columns(queue), queue.id),
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


def _queue_columns(queue: WorkQueue) -> tuple[str, int, bool, int | None, int, str]:
    return (
        queue.name,
        queue.priority,
        queue.is_paused,
        queue.concurrency_limit,
        queue.version,
        queue.model_dump_json(),
    )


def insert_queue(tx: sqlite3.Connection, queue: WorkQueue) -> None:
    """Insert a new queue inside the caller's write transaction (``Conflict`` on a clash)."""
    clash = "SELECT 1 FROM queues WHERE (pool_id = ? AND name = ?) OR id = ?"
    if tx.execute(clash, (queue.pool_id, queue.name, queue.id)).fetchone():
        raise Conflict(f"a work queue named {queue.name!r} already exists in this pool")
    tx.execute(
        "INSERT INTO queues (name, priority, is_paused, concurrency_limit, version, body,"
        " id, pool_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*_queue_columns(queue), queue.id, queue.pool_id),
    )
