"""Work pools in SQLite: one row each, its slot counter and limits as columns.

Deleting a pool deletes its queues, workers, dispatch lease and SCHEDULED
runs in the same transaction, so nothing can claim a slot of a pool that is
gone.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import Conflict, NotFound
from core.models import WorkPool, WorkQueue
from core.states import StateType
from core.store.sqlite.db import Database, check_version, one_body, ts
from core.store.sqlite.queues import insert_queue


class Pools:
    """Pools and the dispatcher's marks on them (last pass, last problem)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None:
        with self._db.write() as tx:
            if tx.execute(
                "SELECT 1 FROM pools WHERE name = ? OR id = ?", (pool.name, pool.id)
            ).fetchone():
                raise Conflict(f"a work pool named {pool.name!r} already exists")
            tx.execute(
                "INSERT INTO pools (name, is_paused, concurrency_limit, version, body, id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*_pool_columns(pool), pool.id),
            )
            insert_queue(tx, default_queue)

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
                (*_pool_columns(stored), pool.id),
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


def _pool_columns(pool: WorkPool) -> tuple[str, bool, int | None, int, str]:
    return (
        pool.name,
        pool.is_paused,
        pool.concurrency_limit,
        pool.version,
        pool.model_dump_json(),
    )
